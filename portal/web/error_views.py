"""How a page answers a domain error, declared by its controller, applied in one place.

A controller does not catch domain errors. When the answer to a failed form should be
more than the plain error page (the same form again, with the message and each field's
sentence, or a redirect back with ``?error=``), the controller says so before it calls the
domain::

    on_domain_error(request, rerender)          # async (session, exc) -> Response
    on_domain_error(request, back_to(f"/finance/refunds/{refund_id}"))

When a ``DomainError`` leaves the controller, the request's session dependency
(``portal.web.deps.provide_session``) rolls the transaction back, then builds that answer
with the same, now clean, session (so the page shows what is really stored), and the app's
exception handler (``portal.web.errors.domain_error``) sends it. Without a declared answer
the handler sends the plain error page, or JSON under ``/api/``, with the error's status.

The rollback expires every row the request's session had loaded: a view reloads what it
shows from the session it is given (``await session.refresh(ret)``) and captures ids, not
attributes of rows, from the controller.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response
from litestar.response import Redirect
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.errors import DomainError

log = logging.getLogger(__name__)

ErrorView = Callable[[AsyncSession, DomainError], Awaitable[Response[Any]]]

_VIEW = "domain_error_view"
_RESPONSE = "domain_error_response"


def on_domain_error(request: Request[Any, Any, Any], view: ErrorView) -> None:
    """Answer a domain error raised later in this request with ``view`` (except a
    not-found one: that gets the 404 page)."""

    request.state[_VIEW] = view


def back_to(path: str, **params: str) -> ErrorView:
    """Redirect (303) to ``path`` with the error's message as ``?error=`` (post/redirect/get)."""

    async def view(_session: AsyncSession, exc: DomainError) -> Response[Any]:
        query = urlencode({**params, "error": exc.message[:1500]})
        return Redirect(f"{path}?{query}", status_code=303)

    return view


def is_htmx(request: Request[Any, Any, Any]) -> bool:
    return request.headers.get("hx-request", "").lower() == "true"


async def prepare_error_view(
    request: Request[Any, Any, Any], session: AsyncSession, exc: DomainError
) -> None:
    """Build the declared answer for ``exc`` (the transaction is already rolled back)."""
    view = request.state.get(_VIEW)
    if view is None or exc.kind == "not_found":  # no form to show again for what is not there
        return
    try:
        request.state[_RESPONSE] = await view(session, exc)
    except DomainError:  # the page itself cannot be built now: the plain error page it is
        log.warning("could not re-render the page for %r", exc, exc_info=True)
        await session.rollback()


def prepared_error_response(request: Request[Any, Any, Any]) -> Response[Any] | None:
    response: Response[Any] | None = request.state.get(_RESPONSE)
    return response
