"""Refunds: requested when a return's items are accepted, approved by people or by the
policy, paid out exactly once (the finance work builds approvals and payment on this)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.audit import record
from portal.models.base import utcnow
from portal.models.money import LIVE_REFUND_STATUSES, Refund
from portal.models.returns import Return


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

    ``auto_approve`` is the policy's verdict (under its threshold and not under review);
    otherwise the refund waits in finance's queue. ``due_days`` comes from the policy's
    ``refund_within_days_of_receipt``. At most one live refund exists per return and
    purpose (the database enforces it): asking again returns the live one. Nothing is
    created for an amount of zero.
    """
    if amount <= 0:
        return None
    live = (
        await session.exec(
            select(Refund).where(
                Refund.return_id == ret.id,
                Refund.purpose == purpose,
                Refund.status.in_(LIVE_REFUND_STATUSES),
            )  # type: ignore[attr-defined]
        )
    ).first()
    if live is not None:
        return live
    moment = now or utcnow()
    refund = Refund(
        return_id=ret.id,  # type: ignore[arg-type]
        purpose=purpose,
        amount=amount,
        currency=ret.currency,
        status="approved" if auto_approve else "pending_approval",
        auto_approved=auto_approve,
        idempotency_key=f"refund-{ret.rma}-{purpose}",
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
    return refund
