"""Staff login and the guards that keep each area to its roles."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

from litestar import Controller, Request, get, post
from litestar.connection import ASGIConnection
from litestar.di import Provide
from litestar.exceptions import (
    NotAuthorizedException,
    PermissionDeniedException,
    TooManyRequestsException,
)
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.params import FromQuery, URLEncodedBody
from litestar.response import Redirect, Template

from portal.accounts import authenticate
from portal.models.staff import StaffUser
from portal.web.deps import DbSession, provide_session
from portal.web.login_throttle import AccountThrottle
from portal.web.sessions import rotate_session

USER_STATE_KEY = "staff_user"
LOGGED_IN_AT = "logged_in_at"


def _now() -> float:
    return time.time()


def _outlived(connection: ASGIConnection[Any, Any, Any, Any], logged_in_at: Any) -> bool:
    """Whether a staff session is older than ``session_max_hours`` (or of unknown age)."""
    max_age = connection.app.state.settings.session_max_hours * 3600
    return not isinstance(logged_in_at, int | float) or _now() - logged_in_at > max_age


async def load_staff_user(connection: ASGIConnection[Any, Any, Any, Any]) -> StaffUser | None:
    """The logged-in, still-active staff user, loaded once per request."""
    state = connection.scope.setdefault("state", {})
    if USER_STATE_KEY in state:
        return state[USER_STATE_KEY]
    user = None
    raw_session = connection.scope.get("session")
    session_data: dict[str, Any] = raw_session if isinstance(raw_session, dict) else {}
    user_id = session_data.get("staff_user_id")
    if user_id is not None and _outlived(connection, session_data.get(LOGGED_IN_AT)):
        connection.clear_session()  # past the absolute lifetime: log in again, however active
        user_id = None
    if user_id is not None:
        db = connection.app.state.db
        async with db.session() as session:
            user = await session.get(StaffUser, user_id)
        if user is not None and not user.active:
            user = None
    state[USER_STATE_KEY] = user
    return user


def requires_role(*roles: str) -> Any:
    """A guard: the area's roles (or admin) may pass; strangers are sent to log in."""

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        user = await load_staff_user(connection)
        if user is None:
            raise NotAuthorizedException("Please log in to continue.")
        if not user.has_role(*roles):
            raise PermissionDeniedException("Your account cannot open this area.")

    guard.__name__ = f"requires_{'_'.join(roles)}"
    return guard


async def provide_staff_user(request: Request[Any, Any, Any]) -> StaffUser | None:
    return await load_staff_user(request)


def home_for(user: StaffUser) -> str:
    for role, path in (
        ("admin", "/admin"),
        ("merchant", "/merchant"),
        ("finance", "/finance"),
        ("warehouse", "/warehouse"),
    ):
        if role in user.roles:
            return path
    return "/"


def _safe_next(target: str | None) -> str | None:
    """Only same-site paths are followed after login (no open redirect)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return None


def login_rate_limit(per_minute: int) -> RateLimitConfig:
    return RateLimitConfig(
        rate_limit=("minute", per_minute),
        # Only the login form itself: logging out must always work.
        check_throttle_handler=lambda request: (
            request.method == "POST" and request.url.path == "/login"
        ),
        store="rate_limit",
    )


class AuthController(Controller):
    path = "/"
    dependencies = {"db_session": Provide(provide_session)}

    @get("/login", name="login", sync_to_thread=False)
    def login_form(self, next: FromQuery[str | None] = None) -> Template:
        return Template("auth/login.html", context={"next": _safe_next(next) or "", "error": None})

    @post("/login", name="login.submit", status_code=303)
    async def login(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        data: URLEncodedBody[dict[str, str]],
    ) -> Template | Redirect:
        settings = request.app.state.settings
        throttle = AccountThrottle(
            free=settings.login_free_failures, cap=settings.login_backoff_max_seconds
        )
        email = data.get("email", "")
        wait = await throttle.retry_after(request, email)
        if wait is not None:
            raise TooManyRequestsException(
                f"Too many failed logins for this account. Try again in {wait} seconds.",
                headers={"Retry-After": str(wait)},
            )
        user = await authenticate(db_session, email, data.get("password", ""))
        if user is None:
            await throttle.failed(request, email)
            return Template(
                "auth/login.html",
                context={
                    "next": _safe_next(data.get("next")) or "",
                    "email": data.get("email", ""),
                    "error": "That e-mail and password do not match an active account.",
                },
                status_code=400,
            )
        await throttle.succeeded(request, email)
        request.set_session({"staff_user_id": user.id, LOGGED_IN_AT: int(_now())})
        rotate_session(request)
        return Redirect(_safe_next(data.get("next")) or home_for(user), status_code=303)

    @post("/logout", name="logout", status_code=303)
    async def logout(self, request: Request[Any, Any, Any]) -> Redirect:
        request.clear_session()
        return Redirect("/login", status_code=303)


def login_redirect(request: Request[Any, Any, Any]) -> Redirect:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return Redirect(f"/login?next={quote(target)}", status_code=303)
