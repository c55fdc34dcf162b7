"""Store webhooks (``/merchant/webhooks``): endpoints, their secrets, and the delivery log.

A new or rotated secret is rendered in the POST response only (never in a redirect or a
later page), so the merchant sees it exactly once. Everything is plain forms: no JS needed.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Template

from portal.models.staff import StaffUser
from portal.web.deps import DbSession
from portal.web.error_views import on_domain_error
from portal.webhooks import (
    EVENT_LABELS,
    EVENTS,
    create_endpoint,
    list_deliveries,
    list_endpoints,
    resend,
    rotate_secret,
    set_endpoint_active,
)

DONE = {
    "disabled": "Endpoint disabled: nothing more is sent to it.",
    "enabled": "Endpoint enabled.",
    "resent": "Delivery queued again; it keeps its event id.",
}


async def _page(db_session: Any, user: StaffUser, status: int = 200, **extra: Any) -> Template:
    endpoints = await list_endpoints(db_session)
    context: dict[str, Any] = {
        "user": user,
        "endpoints": endpoints,
        "urls": {e.id: e.url for e in endpoints},
        "deliveries": await list_deliveries(db_session),
        "events": EVENTS,
        "event_labels": EVENT_LABELS,
        "form": {},
        "error": None,
        "error_endpoint": None,
        "secret": None,
        "secret_endpoint": None,
        "rotated": False,
        "message": None,
    }
    context.update(extra)
    return Template("merchant/webhooks.html", context=context, status_code=status)


@get("/webhooks", name="merchant.webhooks")
async def webhooks_page(
    request: Request[Any, Any, Any], db_session: DbSession, staff_user: NamedDependency[StaffUser]
) -> Template:
    done = DONE.get(request.query_params.get("done", ""))
    return await _page(db_session, staff_user, message=done)


@post("/webhooks", name="merchant.webhooks.create", status_code=200)
async def add_endpoint(
    request: Request[Any, Any, Any], db_session: DbSession, staff_user: NamedDependency[StaffUser]
) -> Template:
    form = await request.form()
    url, description = str(form.get("url") or ""), str(form.get("description") or "")
    events = [str(e) for e in form.getall("events", [])]
    on_domain_error(
        request,
        lambda session, exc: _page(
            session,
            staff_user,
            exc.status_code,
            error=exc.message,
            error_endpoint="new",
            form={"url": url, "description": description, "events": events},
        ),
    )
    endpoint = await create_endpoint(
        db_session,
        staff_user.email,
        url,
        events,
        description,
        allow_private=request.app.state.settings.webhooks_private_allowed,
    )
    return await _page(db_session, staff_user, secret=endpoint.secret, secret_endpoint=endpoint)


def _page_on_error(request: Request[Any, Any, Any], actor: StaffUser, where: int | str) -> None:
    """A refused change shows the webhooks page again, the message by ``where``."""
    on_domain_error(
        request,
        lambda session, exc: _page(
            session, actor, exc.status_code, error=exc.message, error_endpoint=where
        ),
    )


async def _toggle(
    request: Request[Any, Any, Any],
    db_session: Any,
    actor: StaffUser,
    endpoint_id: int,
    active: bool,
) -> Any:
    _page_on_error(request, actor, endpoint_id)
    await set_endpoint_active(db_session, actor.email, endpoint_id, active)
    done = "enabled" if active else "disabled"
    return Redirect(f"/merchant/webhooks?done={done}#endpoint-{endpoint_id}", status_code=303)


@post("/webhooks/{endpoint_id:int}/disable", name="merchant.webhooks.disable", status_code=303)
async def disable_endpoint(
    request: Request[Any, Any, Any],
    endpoint_id: FromPath[int],
    db_session: DbSession,
    staff_user: NamedDependency[StaffUser],
) -> Template | Redirect:
    return await _toggle(request, db_session, staff_user, endpoint_id, False)


@post("/webhooks/{endpoint_id:int}/enable", name="merchant.webhooks.enable", status_code=303)
async def enable_endpoint(
    request: Request[Any, Any, Any],
    endpoint_id: FromPath[int],
    db_session: DbSession,
    staff_user: NamedDependency[StaffUser],
) -> Template | Redirect:
    return await _toggle(request, db_session, staff_user, endpoint_id, True)


@post("/webhooks/{endpoint_id:int}/rotate", name="merchant.webhooks.rotate", status_code=200)
async def rotate_endpoint_secret(
    request: Request[Any, Any, Any],
    endpoint_id: FromPath[int],
    db_session: DbSession,
    staff_user: NamedDependency[StaffUser],
) -> Template:
    _page_on_error(request, staff_user, endpoint_id)
    endpoint = await rotate_secret(db_session, staff_user.email, endpoint_id)
    return await _page(
        db_session, staff_user, secret=endpoint.secret, secret_endpoint=endpoint, rotated=True
    )


@post(
    "/webhooks/deliveries/{delivery_id:int}/resend",
    name="merchant.webhooks.resend",
    status_code=303,
)
async def resend_delivery(
    request: Request[Any, Any, Any],
    delivery_id: FromPath[int],
    db_session: DbSession,
    staff_user: NamedDependency[StaffUser],
) -> Template | Redirect:
    _page_on_error(request, staff_user, "log")
    await resend(db_session, staff_user.email, delivery_id)
    return Redirect(f"/merchant/webhooks?done=resent#delivery-{delivery_id}", status_code=303)


webhook_handlers = [
    webhooks_page,
    add_endpoint,
    disable_endpoint,
    enable_endpoint,
    rotate_endpoint_secret,
    resend_delivery,
]
