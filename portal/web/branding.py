"""The store's branding on every page, and its logo at ``/brand/logo``.

Templates read the Jinja global ``store`` (``store.name``, ``store.brand_color`` ...). It is a
proxy onto the effective branding of the current request, which a middleware loads once per
request from the app's ``SettingsCache`` (one primary-key lookup every few seconds at most,
see ``portal.merchant.store_settings``).
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from litestar import Request, get
from litestar.exceptions import NotFoundException
from litestar.response import Response
from litestar.types import ASGIApp, Receive, Scope, Send

from portal.merchant.store_settings import (
    Branding,
    EffectiveSettings,
    SettingsCache,
    current_logo,
    effective_from_row,
)
from portal.returns.photos import photo_file
from portal.settings import Settings

_current: ContextVar[Branding | None] = ContextVar("portal_branding", default=None)
_SKIP = ("/static/", "/api/", "/hooks/", "/healthz", "/readyz", "/brand/")


class StoreProxy:
    """What templates see as ``store``: this request's branding (the last known otherwise)."""

    def __init__(self, settings: Settings, cache: SettingsCache) -> None:
        self._defaults = effective_from_row(None, settings).branding
        self._cache = cache

    def _branding(self) -> Branding:
        current = _current.get()
        if current is not None:
            return current
        last: EffectiveSettings | None = self._cache._value
        return last.branding if last is not None else self._defaults

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return getattr(self._branding(), name)
        except AttributeError:
            raise AttributeError(name) from None

    def __getitem__(self, name: str) -> Any:
        return self._branding().as_dict()[name]


def branding_middleware(app: ASGIApp) -> ASGIApp:
    """Load the effective branding for this request before any page is rendered."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(_SKIP):
            await app(scope, receive, send)
            return
        state = scope["app"].state
        effective = await state.store_settings_cache.get(state.db)
        token = _current.set(effective.branding)
        try:
            await app(scope, receive, send)
        finally:
            _current.reset(token)

    return middleware


@get("/brand/logo", name="brand.logo", include_in_schema=False)
async def brand_logo(request: Request[Any, Any, Any]) -> Response[bytes]:
    """The store's logo: only the image the store settings point at, publicly cacheable."""
    async with request.app.state.db.session() as session:
        media = await current_logo(session)
    path = photo_file(request.app.state.settings.media_dir, media) if media else None
    if media is None or path is None:
        raise NotFoundException("This store has no logo.")
    etag = f'"{media.sha256[:32]}"'
    versioned = request.query_params.get("v") == str(media.id)
    headers = {
        "Cache-Control": "public, max-age=86400, immutable" if versioned else "public, max-age=300",
        "ETag": etag,
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'",
    }
    if request.headers.get("if-none-match") == etag:
        return Response(b"", status_code=304, headers=headers)
    return Response(path.read_bytes(), media_type=media.content_type, headers=headers)
