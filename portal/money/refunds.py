"""Refunds: requested when a return's items are accepted, approved by people or by the
policy, paid out exactly once (approvals in ``approvals``, payment in ``payouts``).

The cap: a return never gets back more than was paid for its lines (unit price times the
returned quantity, less the line discount pro rata) minus every other refund of the return
that is live (pending, approved, processing or succeeded). It is checked when a refund is
requested, when it is approved and again just before money moves.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.audit import record
from portal.errors import Conflict, NotFound
from portal.jobs.outbox import enqueue
from portal.models.base import id_of, utcnow
from portal.models.money import LIVE_REFUND_STATUSES, Refund, RefundStatus
from portal.models.orders import OrderLine
from portal.models.returns import Return, ReturnLine


class NoSuchRefund(NotFound, LookupError):
    """There is no refund with that id (a ``LookupError`` too, as it always was)."""


class RefundLimitExceeded(Conflict):
    """The amount is more than what was paid for the lines, minus earlier refunds."""


def _round_half_up(numerator: int, denominator: int) -> int:
    return (2 * numerator + denominator) // (2 * denominator)


async def paid_for_returns(session: AsyncSession, return_ids: list[int]) -> dict[int, int]:
    """What the shopper paid for each return's quantities (discount shared pro rata)."""
    rows = (
        await session.exec(
            select(ReturnLine, OrderLine)
            .join(OrderLine, col(OrderLine.id) == ReturnLine.order_line_id)
            .where(col(ReturnLine.return_id).in_(return_ids))
        )
    ).all()
    totals = dict.fromkeys(return_ids, 0)
    for line, ordered in rows:
        quantity = line.quantity
        totals[line.return_id] += max(
            0,
            ordered.unit_price * quantity
            - _round_half_up(ordered.discount * quantity, ordered.quantity),
        )
    return totals


async def paid_for_lines(session: AsyncSession, return_id: int) -> int:
    """What the shopper paid for the returned quantities of one return."""
    return (await paid_for_returns(session, [return_id]))[return_id]


async def refunded_or_promised(
    session: AsyncSession, return_id: int, *, excluding: int | None = None
) -> int:
    """The sum of the return's live refunds (optionally leaving one out)."""
    query = select(sa.func.coalesce(sa.func.sum(Refund.amount), 0)).where(
        Refund.return_id == return_id,
        col(Refund.status).in_(LIVE_REFUND_STATUSES),
    )
    if excluding is not None:
        query = query.where(Refund.id != excluding)
    return int((await session.exec(query)).one())


async def refundable(session: AsyncSession, return_id: int, *, excluding: int | None = None) -> int:
    """How much more may still be refunded for this return."""
    paid = await paid_for_lines(session, return_id)
    return max(0, paid - await refunded_or_promised(session, return_id, excluding=excluding))


async def check_limit(session: AsyncSession, refund: Refund) -> None:
    """Raise ``RefundLimitExceeded`` when ``refund`` would pay back more than was paid."""
    room = await refundable(session, refund.return_id, excluding=refund.id)
    if refund.amount > room:
        raise RefundLimitExceeded(
            f"Refund of {refund.amount} exceeds the {room} still refundable for this return."
        )


async def queue_payout(session: AsyncSession, refund: Refund) -> None:
    """Queue the payment of an approved refund (once per refund, in the caller's transaction)."""
    await enqueue(
        session, "issue_refund", {"refund_id": refund.id}, key=f"issue_refund:{refund.id}"
    )


async def request_refund(
    session: AsyncSession,
    ret: Return,
    amount: int,
    *,
    actor: str,
    auto_approve: bool,
    due_days: int,
    purpose: str = "return",
    now: datetime | None = None,
) -> Refund | None:
    """Ask for a refund of ``amount`` for ``ret``, in the caller's transaction.

    ``auto_approve`` is the policy's verdict (under its threshold and not under review):
    such a refund is approved at once and its payment queued; otherwise it waits in
    finance's queue. ``due_days`` comes from the policy's ``refund_within_days_of_receipt``.
    At most one live refund exists per return and purpose (the database enforces it):
    asking again returns the live one. Nothing is created for an amount of zero; an amount
    above what is still refundable raises ``RefundLimitExceeded``.
    """
    if amount <= 0:
        return None
    live = (
        await session.exec(
            select(Refund).where(
                Refund.return_id == ret.id,
                Refund.purpose == purpose,
                col(Refund.status).in_(LIVE_REFUND_STATUSES),
            )
        )
    ).first()
    if live is not None:
        return live
    room = await refundable(session, id_of(ret))
    if amount > room:
        raise RefundLimitExceeded(
            f"Refund of {amount} exceeds the {room} still refundable for return {ret.rma}."
        )
    earlier = (
        await session.exec(
            select(sa.func.count()).where(Refund.return_id == ret.id, Refund.purpose == purpose)
        )
    ).one()
    moment = now or utcnow()
    refund = Refund(
        return_id=id_of(ret),
        purpose=purpose,
        amount=amount,
        currency=ret.currency,
        status=RefundStatus.APPROVED if auto_approve else RefundStatus.PENDING_APPROVAL,
        auto_approved=auto_approve,
        idempotency_key=f"refund-{ret.rma}-{purpose}" + (f"-{earlier + 1}" if earlier else ""),
        due_at=moment + timedelta(days=due_days),
        decided_at=moment if auto_approve else None,
    )
    session.add(refund)
    await session.flush()
    await record(
        session,
        actor,
        "refund",
        refund.id,
        "requested",
        to_state=refund.status,
        data={"amount": amount, "return": ret.rma, "auto_approved": auto_approve},
    )
    if auto_approve:
        await queue_payout(session, refund)
    return refund


async def lock_refund(session: AsyncSession, refund_id: int) -> Refund:
    """Load the refund under a row lock (taken before anything else is read)."""
    if session.bind is not None and session.bind.dialect.name == "sqlite":
        # Take SQLite's write lock first, so the state we read is the state we change.
        await session.exec(
            sa.update(Refund).where(col(Refund.id) == refund_id).values(id=Refund.id)
        )
    refund = (
        await session.exec(
            select(Refund)
            .where(Refund.id == refund_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).first()
    if refund is None:
        raise NoSuchRefund(f"There is no refund {refund_id}.")
    return refund
