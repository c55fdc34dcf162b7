"""The review queue (``/merchant/reviews``): returns the policy sent to a person before a
label is made. Staff approve or reject; the domain does the rest."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect, Template
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.errors import DomainError
from portal.models.orders import Customer, Order
from portal.models.returns import Return, ReturnStatus
from portal.models.staff import StaffUser
from portal.returns.lifecycle import approve_return, reject_return
from portal.returns.links import LinkSigner
from portal.web.deps import DbSession
from portal.web.error_views import on_domain_error
from portal.web.shop.views import return_lines

STATUS_CLOSED_HINT = "It was decided already; the queue below is current."


async def _queue(db_session: Any) -> list[dict[str, Any]]:
    rows = (
        await db_session.exec(
            select(Return, Order, Customer)
            .join(Order, col(Order.id) == Return.order_id)
            .join(Customer, col(Customer.id) == Order.customer_id, isouter=True)
            .where(Return.status == ReturnStatus.REQUESTED)
            .order_by(col(Return.created_at))
        )
    ).all()
    queue = []
    for ret, order, customer in rows:
        queue.append(
            {
                "ret": ret,
                "order": order,
                "customer": customer,
                "lines": await return_lines(db_session, ret),
            }
        )
    return queue


def _signer(request: Request[Any, Any, Any]) -> LinkSigner:
    return LinkSigner(request.app.state.settings.ensure_secret_key())


async def _page(
    db_session: Any,
    user: StaffUser,
    *,
    message: str | None = None,
    error: str | None = None,
    errors: dict[int, str] | None = None,
    status: int = 200,
) -> Template:
    return Template(
        "merchant/reviews.html",
        context={
            "user": user,
            "queue": await _queue(db_session),
            "message": message,
            "error": error,
            "errors": errors or {},
        },
        status_code=status,
    )


@get("/reviews", name="merchant.reviews")
async def reviews(db_session: DbSession, staff_user: NamedDependency[StaffUser]) -> Template:
    return await _page(db_session, staff_user)


async def _return(db_session: Any, return_id: int) -> Return:
    ret = await db_session.get(Return, return_id)
    if ret is None:
        raise NotFoundException("That return does not exist.")
    return ret


def _page_on_error(request: Request[Any, Any, Any], user: StaffUser, return_id: int) -> None:
    """A refused decision shows the queue again: a field's message by that return, or the
    return having moved on (someone else decided first) at the top."""

    async def view(session: AsyncSession, exc: DomainError) -> Template:
        if exc.problems:
            return await _page(
                session, user, errors={return_id: exc.message}, status=exc.status_code
            )
        return await _page(session, user, error=f"{exc.message} {STATUS_CLOSED_HINT}", status=409)

    on_domain_error(request, view)


@post("/reviews/{return_id:int}/approve", name="merchant.reviews.approve", status_code=303)
async def approve(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    staff_user: NamedDependency[StaffUser],
    return_id: FromPath[int],
) -> Template | Redirect:
    ret = await _return(db_session, return_id)
    form = await request.form()
    _page_on_error(request, staff_user, return_id)
    await approve_return(
        db_session,
        return_id,
        staff_user.email,
        _signer(request),
        note=str(form.get("note") or "").strip()[:500],
    )
    return Redirect(f"/merchant/reviews?done={ret.rma}&action=approved", status_code=303)


@post("/reviews/{return_id:int}/reject", name="merchant.reviews.reject", status_code=303)
async def reject(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    staff_user: NamedDependency[StaffUser],
    return_id: FromPath[int],
) -> Template | Redirect:
    ret = await _return(db_session, return_id)
    form = await request.form()
    _page_on_error(request, staff_user, return_id)
    await reject_return(
        db_session,
        return_id,
        staff_user.email,
        _signer(request),
        reason=str(form.get("reason") or "")[:1000],
    )
    return Redirect(f"/merchant/reviews?done={ret.rma}&action=rejected", status_code=303)


review_handlers = [reviews, approve, reject]
