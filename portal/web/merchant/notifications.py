"""Shopper e-mail wording (``/merchant/notifications``): list, edit, preview, save, reset.

One form holds the subject and both bodies; its buttons post to different actions, so it
all works without JavaScript. HTMX only swaps the preview panel in place (always with
status 200, since htmx does not swap errors).
"""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.datastructures import FormMultiDict
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect, Template
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.errors import DomainError
from portal.merchant.store_settings import load_effective
from portal.models.staff import StaffUser
from portal.notify import overrides
from portal.notify.overrides import TemplateProblem, UnknownEmail, Wording
from portal.web.deps import DbSession
from portal.web.error_views import on_domain_error

DONE = {
    "saved": "Saved. Every e-mail of this kind sent from now on uses your wording.",
    "reset": "Back to the shipped wording.",
    "unchanged": "This e-mail already uses the shipped wording.",
}


def _spec(name: str) -> overrides.EmailSpec:
    try:
        return overrides.spec_for(name)
    except UnknownEmail:
        raise NotFoundException("There is no e-mail by that name.") from None


async def _branding(request: Request[Any, Any, Any], db_session: Any) -> tuple[dict[str, Any], str]:
    """The store and base URL the preview is rendered with, as the send job sees them."""
    settings = request.app.state.settings
    effective = await load_effective(db_session, settings)
    return effective.branding.absolute(settings.base_url).as_dict(), settings.base_url


def _wording(form: FormMultiDict) -> Wording:
    def field(key: str) -> str:
        return str(form.get(key) or "").replace("\r\n", "\n")

    return Wording(subject=field("subject"), text=field("text"), html=field("html"))


async def _context(
    request: Request[Any, Any, Any],
    db_session: Any,
    user: StaffUser,
    spec: overrides.EmailSpec,
    wording: Wording | None = None,
    **extra: Any,
) -> dict[str, Any]:
    current, row = await overrides.current_wording(db_session, spec.name)
    wording = wording or current
    store, base_url = await _branding(request, db_session)
    context: dict[str, Any] = {
        "user": user,
        "spec": spec,
        "row": row,
        "wording": wording,
        "variables": spec.variables(),
        "preview": overrides.render_draft(spec.name, wording, store, base_url),
        "errors": {},
        "message": None,
    }
    context.update(extra)
    return context


def _page(context: dict[str, Any], status: int = 200) -> Template:
    return Template("merchant/notification_edit.html", context=context, status_code=status)


@get("/notifications", name="merchant.notifications")
async def notifications_page(
    request: Request[Any, Any, Any], db_session: DbSession, staff_user: NamedDependency[StaffUser]
) -> Template:
    rows = await overrides.list_overrides(db_session)
    return Template(
        "merchant/notifications.html",
        context={
            "user": staff_user,
            "emails": list(overrides.CATALOGUE.values()),
            "rows": rows,
            "message": DONE.get(request.query_params.get("done", "")),
        },
    )


@get("/notifications/{name:str}", name="merchant.notifications.edit")
async def edit_notification(
    name: FromPath[str],
    request: Request[Any, Any, Any],
    db_session: DbSession,
    staff_user: NamedDependency[StaffUser],
) -> Template:
    spec = _spec(name)
    message = DONE.get(request.query_params.get("done", ""))
    return _page(await _context(request, db_session, staff_user, spec, message=message))


@post("/notifications/{name:str}/preview", name="merchant.notifications.preview", status_code=200)
async def preview_notification(
    name: FromPath[str],
    request: HTMXRequest,
    db_session: DbSession,
    staff_user: NamedDependency[StaffUser],
) -> Template:
    spec = _spec(name)
    wording = _wording(await request.form())
    context = await _context(request, db_session, staff_user, spec, wording)
    if request.htmx:
        return Template("_partials/merchant/notification_preview.html", context=context)
    return _page(context, 200 if context["preview"].ok else 400)


@post("/notifications/{name:str}", name="merchant.notifications.save", status_code=303)
async def save_notification(
    name: FromPath[str],
    request: Request[Any, Any, Any],
    db_session: DbSession,
    staff_user: NamedDependency[StaffUser],
) -> Template | Redirect:
    spec = _spec(name)
    wording = _wording(await request.form())
    store, base_url = await _branding(request, db_session)

    async def edit_again(session: AsyncSession, exc: DomainError) -> Template:
        errors = (
            exc.errors
            if isinstance(exc, TemplateProblem)
            else {k: [v] for k, v in exc.problems.items()}
        )
        context = await _context(request, session, staff_user, spec, wording, errors=errors)
        return _page(context, exc.status_code)

    on_domain_error(request, edit_again)
    await overrides.save_override(db_session, staff_user.email, spec.name, wording, store, base_url)
    return Redirect(f"/merchant/notifications/{spec.name}?done=saved", status_code=303)


@post("/notifications/{name:str}/reset", name="merchant.notifications.reset", status_code=303)
async def reset_notification(
    name: FromPath[str], db_session: DbSession, staff_user: NamedDependency[StaffUser]
) -> Redirect:
    spec = _spec(name)
    reset = await overrides.reset_override(db_session, staff_user.email, spec.name)
    done = "reset" if reset else "unchanged"
    return Redirect(f"/merchant/notifications/{spec.name}?done={done}", status_code=303)


notification_handlers = [
    notifications_page,
    edit_notification,
    preview_notification,
    save_notification,
    reset_notification,
]
