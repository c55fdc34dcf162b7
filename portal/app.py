"""``create_app(settings)``: the Litestar application, assembled from plugins and routers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

from litestar import Litestar, Router
from litestar.config.csrf import CSRFConfig
from litestar.exceptions import HTTPException
from litestar.middleware import DefineMiddleware
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.plugins.htmx import HTMXPlugin
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from portal.composition import build_context, install_hooks
from portal.db import Database
from portal.errors import DomainError
from portal.integrations import make_carrier
from portal.jobs.runner import InProcessRunner
from portal.merchant.store_settings import SettingsCache
from portal.money.currency import format_money
from portal.settings import Settings, load_settings
from portal.stores import make_root_store, make_store_registry
from portal.web.admin import admin_router
from portal.web.api import api_router
from portal.web.auth import AuthController, login_rate_limit
from portal.web.branding import StoreProxy, brand_logo, branding_middleware
from portal.web.errors import domain_error, http_error
from portal.web.finance import finance_router
from portal.web.health import healthz, readyz
from portal.web.hooks import hooks_router
from portal.web.logging import configure_logging, request_logging_middleware
from portal.web.mailbox import mailbox_router
from portal.web.merchant import merchant_router
from portal.web.security_headers import csp_nonce, security_headers_hook
from portal.web.sessions import RotatingSessionConfig
from portal.web.shop import shop_router
from portal.web.warehouse import warehouse_router

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = ROOT / "templates"
STATIC_DIR = ROOT / "static"
HTMX_SCRIPT = "vendor/htmx-2.0.8.min.js"
PICO_CSS = "vendor/pico-2.1.1.min.css"


def _template_engine(
    settings: Settings, cache: SettingsCache
) -> TemplateConfig[JinjaTemplateEngine]:
    def configure(engine: JinjaTemplateEngine) -> None:
        env = engine.engine
        env.globals.update(
            store=StoreProxy(settings, cache),  # the merchant's branding, per request
            htmx_script=HTMX_SCRIPT,
            pico_css=PICO_CSS,
            csp_nonce=csp_nonce,
        )
        env.filters["money"] = lambda amount, currency="USD": format_money(int(amount), currency)

    return TemplateConfig(
        directory=TEMPLATES_DIR, engine=JinjaTemplateEngine, engine_callback=configure
    )


def create_app(settings: Settings | None = None, *, check_migrations: bool = True) -> Litestar:
    """Build the app. The database must be migrated; ``portal migrate`` does that."""
    settings = settings or load_settings()
    secret = settings.ensure_secret_key()
    configure_logging(settings.log_level, settings.log_json)
    db = Database(settings.resolved_database_url)
    root_store = make_root_store(db, settings.redis_url)
    secure_cookies = settings.base_url.startswith("https://")
    store_settings_cache = SettingsCache(settings)
    install_hooks(settings)  # the web app decides refunds too (finance), not only the jobs

    runner = (
        InProcessRunner(build_context(settings, db))
        if settings.inprocess_jobs and not settings.redis_url
        else None
    )

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        if check_migrations:
            await db.ensure_migrated()
        if runner is not None:
            runner.start()
        try:
            yield
        finally:
            if runner is not None:
                await runner.stop()
            await db.dispose()

    sessions = RotatingSessionConfig(
        key="portal_session",
        store="sessions",
        max_age=settings.session_idle_minutes * 60,
        renew_on_access=True,
        httponly=True,
        secure=secure_cookies,
        samesite="lax",
    )
    auth_router = Router(
        path="/",
        route_handlers=[AuthController],
        middleware=[login_rate_limit(settings.login_attempts_per_minute).middleware],
        include_in_schema=False,
    )

    # Behind reverse proxies: the client is the rightmost X-Forwarded-For address that is not
    # one of PORTAL_TRUSTED_PROXIES (and the scheme X-Forwarded-Proto) -- only when the peer
    # itself is one of them. Without the setting nobody's forwarded headers are believed.
    proxies = (
        [
            DefineMiddleware(
                cast(Any, ProxyHeadersMiddleware),  # uvicorn's ASGI types, the same protocol
                trusted_hosts=settings.trusted_proxy_list,
            )
        ]
        if settings.trusted_proxy_list
        else []
    )
    app = Litestar(
        route_handlers=[
            healthz,
            readyz,
            auth_router,
            shop_router,
            warehouse_router,
            merchant_router,
            finance_router,
            admin_router,
            api_router,
            hooks_router,
            mailbox_router,
            brand_logo,
            create_static_files_router(
                path="/static", directories=[STATIC_DIR], include_in_schema=False
            ),
        ],
        plugins=[HTMXPlugin()],
        template_config=_template_engine(settings, store_settings_cache),
        csrf_config=CSRFConfig(
            secret=secret,
            cookie_name="portal_csrf",
            cookie_secure=secure_cookies,
            cookie_httponly=False,
            exclude=["^/api/", "^/hooks/"],
        ),
        middleware=[
            *proxies,
            request_logging_middleware,
            sessions.middleware,
            branding_middleware,
        ],
        stores=make_store_registry(root_store),
        exception_handlers={HTTPException: http_error, DomainError: domain_error},
        lifespan=[lifespan],
        before_send=[security_headers_hook(hsts=secure_cookies)],
        openapi_config=OpenAPIConfig(
            title="Returns portal API",
            version="1",
            path="/schema",
            render_plugins=[SwaggerRenderPlugin()],
        ),
    )
    app.state.settings = settings
    app.state.db = db
    app.state.store_settings_cache = store_settings_cache
    app.state.runner = runner
    app.state.carrier = make_carrier(settings)
    return app
