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
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.audit import record
from portal.jobs.outbox import enqueue
from portal.models.base import utcnow
from portal.models.money import LIVE_REFUND_STATUSES, Refund
from portal.models.orders import OrderLine
from portal.models.returns import Return, ReturnLine


class RefundLimitExceeded(ValueError):
    """The amount is more than what was paid for the lines, minus earlier refunds."""


def _round_half_up(numerator: int, denominator: int) -> int:
    return (2 * numerator + denominator) // (2 * denominator)


async def paid_for_returns(session: AsyncSession, return_ids: list[int]) -> dict[int, int]:
    """What the shopper paid for each return's quantities (discount shared pro rata)."""
    rows = (
        await session.exec(
            select(
                ReturnLine.return_id,
                ReturnLine.quantity,
                OrderLine.unit_price,
                OrderLine.discount,
                OrderLine.quantity,
            )
            .join(OrderLine, OrderLine.id == ReturnLine.order_line_id)  # type: ignore[arg-type]
            .where(ReturnLine.return_id.in_(return_ids))  # type: ignore[attr-defined]
        )
    ).all()
    totals = dict.fromkeys(return_ids, 0)
    for return_id, quantity, unit_price, discount, ordered in rows:
        totals[return_id] += max(
            0, unit_price * quantity - _round_half_up(discount * quantity, ordered)
        )
    return totals


async def paid_for_lines(session: AsyncSession, return_id: int) -> int:
    """What the shopper paid for the returned quantities of one return."""
    return (await paid_for_returns(session, [return_id]))[return_id]


async def refunded_or_promised(
    session: AsyncSession, return_id: int, *, excluding: int | None = None
) -> int:
    """The sum of the return's live refunds (optionally leaving one out)."""
    query = sa.select(sa.func.coalesce(sa.func.sum(Refund.amount), 0)).where(
        Refund.return_id == return_id,
        Refund.status.in_(LIVE_REFUND_STATUSES),  # type: ignore[attr-defined]
    )
    if excluding is not None:
        query = query.where(Refund.id != excluding)
    return int((await session.exec(query)).scalar_one())  # type: ignore[call-overload]


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
                Refund.status.in_(LIVE_REFUND_STATUSES),  # type: ignore[attr-defined]
            )
        )
    ).first()
    if live is not None:
        return live
    room = await refundable(session, ret.id)  # type: ignore[arg-type]
    if amount > room:
        raise RefundLimitExceeded(
            f"Refund of {amount} exceeds the {room} still refundable for return {ret.rma}."
        )
    earlier = (
        await session.exec(  # type: ignore[call-overload]
            sa.select(sa.func.count()).where(Refund.return_id == ret.id, Refund.purpose == purpose)
        )
    ).scalar_one()
    moment = now or utcnow()
    refund = Refund(
        return_id=ret.id,  # type: ignore[arg-type]
        purpose=purpose,
        amount=amount,
        currency=ret.currency,
        status="approved" if auto_approve else "pending_approval",
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
