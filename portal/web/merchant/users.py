"""Staff users (``/merchant/users``): invite, set roles, disable and enable.

The invitation's temporary password is rendered in the POST response only, never stored
or redirected with, so it is shown exactly once.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Template

from portal.merchant.users import (
    ROLE_LABELS,
    invite,
    list_users,
    reset_password,
)
from portal.merchant.users import set_enabled as set_user_enabled
from portal.merchant.users import set_roles as set_user_roles
from portal.models.staff import StaffUser
from portal.web.deps import DbSession
from portal.web.error_views import on_domain_error

DONE = {
    "roles": "Roles saved.",
    "disabled": "User disabled; they are signed out on their next click.",
    "enabled": "User enabled.",
}


async def _page(db_session: Any, user: StaffUser, status: int = 200, **extra: Any) -> Template:
    context: dict[str, Any] = {
        "user": user,
        "users": await list_users(db_session),
        "role_labels": ROLE_LABELS,
        "error": None,
        "error_user": None,
        "invitation": None,
        "message": None,
        "invite_form": {},
        "reset": False,
    }
    context.update(extra)
    return Template("merchant/users.html", context=context, status_code=status)


def _page_on_error(request: Request[Any, Any, Any], actor: StaffUser, user_id: int) -> None:
    """A refused change shows the users page again, the message by that user's row."""
    on_domain_error(
        request,
        lambda session, exc: _page(
            session, actor, exc.status_code, error=exc.message, error_user=user_id
        ),
    )


@get("/users", name="merchant.users")
async def users_page(
    request: Request[Any, Any, Any], db_session: DbSession, staff_user: NamedDependency[StaffUser]
) -> Template:
    return await _page(
        db_session, staff_user, message=DONE.get(request.query_params.get("done", ""))
    )


@post("/users/invite", name="merchant.users.invite", status_code=200)
async def invite_user(
    request: Request[Any, Any, Any], db_session: DbSession, staff_user: NamedDependency[StaffUser]
) -> Template:
    form = await request.form()
    email, name = str(form.get("email") or ""), str(form.get("name") or "")
    roles = [str(r) for r in form.getall("roles", [])]
    on_domain_error(
        request,
        lambda session, exc: _page(
            session,
            staff_user,
            exc.status_code,
            error=exc.message,
            error_user="invite",
            invite_form={"email": email, "name": name, "roles": roles},
        ),
    )
    invitation = await invite(db_session, staff_user, email, name, roles)
    return await _page(db_session, staff_user, invitation=invitation)


@post("/users/{user_id:int}/roles", name="merchant.users.roles", status_code=303)
async def change_roles(
    user_id: FromPath[int],
    request: Request[Any, Any, Any],
    db_session: DbSession,
    staff_user: NamedDependency[StaffUser],
) -> Template | Redirect:
    form = await request.form()
    _page_on_error(request, staff_user, user_id)
    await set_user_roles(
        db_session, staff_user, user_id, [str(r) for r in form.getall("roles", [])]
    )
    return Redirect(f"/merchant/users?done=roles#user-{user_id}", status_code=303)


async def _toggle(
    user_id: int, request: Request[Any, Any, Any], db_session: Any, actor: StaffUser, active: bool
) -> Template | Redirect:
    form = await request.form()
    _page_on_error(request, actor, user_id)
    await set_user_enabled(db_session, actor, user_id, active, str(form.get("reason") or ""))
    done = "enabled" if active else "disabled"
    return Redirect(f"/merchant/users?done={done}#user-{user_id}", status_code=303)


@post("/users/{user_id:int}/disable", name="merchant.users.disable", status_code=303)
async def disable_user(
    user_id: FromPath[int],
    request: Request[Any, Any, Any],
    db_session: DbSession,
    staff_user: NamedDependency[StaffUser],
) -> Template | Redirect:
    return await _toggle(user_id, request, db_session, staff_user, False)


@post("/users/{user_id:int}/enable", name="merchant.users.enable", status_code=303)
async def enable_user(
    user_id: FromPath[int],
    request: Request[Any, Any, Any],
    db_session: DbSession,
    staff_user: NamedDependency[StaffUser],
) -> Template | Redirect:
    return await _toggle(user_id, request, db_session, staff_user, True)


@post("/users/{user_id:int}/password", name="merchant.users.password", status_code=200)
async def new_password(
    request: Request[Any, Any, Any],
    user_id: FromPath[int],
    db_session: DbSession,
    staff_user: NamedDependency[StaffUser],
) -> Template:
    _page_on_error(request, staff_user, user_id)
    issued = await reset_password(db_session, staff_user, user_id)
    return await _page(db_session, staff_user, invitation=issued, reset=True)


user_handlers = [users_page, invite_user, change_roles, disable_user, enable_user, new_password]
