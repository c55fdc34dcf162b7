"""The refund state machine (``RefundStatus``, ``REFUND_TRANSITIONS`` in
``portal.models.money``) and its named moves.

``pending_approval → approved → processing → succeeded``; ``pending_approval → rejected``
(finance declines), ``approved → failed`` (it would pay back more than is refundable),
``processing → failed`` (the provider refused). A failed refund is retried as a new
refund (``retry``), approved already, with a new idempotency key.

Each move is a compare-and-set on the refund's status and writes a ``refund`` audit event
named after the new status (``approved``, ``rejected``, ``processing``, ``succeeded``,
``failed``), in the caller's transaction; the callers hold the refund's row lock
(``portal.money.approvals.lock_refund``) and commit.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from portal.audit import record
from portal.models.base import utcnow
from portal.models.money import REFUND_TRANSITIONS, Refund, RefundStatus
from portal.states import Machine, TransitionError

REFUNDS = Machine(RefundStatus, REFUND_TRANSITIONS, Refund, "status", "refund")


def _what(refund: Refund) -> str:
    return f"refund {refund.id}"


async def approve(
    session: AsyncSession, refund: Refund, actor: str, *, data: dict[str, Any] | None = None
) -> None:
    """pending_approval → approved: enough people agreed (the caller queues the payout)."""
    await REFUNDS.move(
        session,
        refund,
        RefundStatus.APPROVED,
        actor=actor,
        data=data,
        values={"decided_at": utcnow()},
        what=_what(refund),
    )


async def decline(
    session: AsyncSession,
    refund: Refund,
    actor: str,
    reason: str,
    *,
    data: dict[str, Any] | None = None,
) -> None:
    """pending_approval → rejected, with finance's reason (kept for staff)."""
    await REFUNDS.move(
        session,
        refund,
        RefundStatus.REJECTED,
        actor=actor,
        reason=reason,
        data=data,
        values={"rejection_reason": reason[:1000], "decided_at": utcnow()},
        what=_what(refund),
    )


async def start_processing(
    session: AsyncSession, refund: Refund, provider: str, actor: str = "system"
) -> None:
    """approved → processing: the payout job claimed it and calls ``provider``."""
    await REFUNDS.move(
        session,
        refund,
        RefundStatus.PROCESSING,
        actor=actor,
        data={"provider": provider},
        values={"provider": provider},
        what=_what(refund),
    )


async def mark_paid(
    session: AsyncSession,
    refund: Refund,
    actor: str,
    *,
    reference: str | None,
    amount: int,
    at: datetime | None = None,
) -> None:
    """processing → succeeded: the provider (or finance, for manual refunds) paid it."""
    await REFUNDS.move(
        session,
        refund,
        RefundStatus.SUCCEEDED,
        actor=actor,
        data={"reference": reference, "amount": amount},
        values={
            "provider_reference": reference or refund.provider_reference,
            "completed_at": at or utcnow(),
        },
        what=_what(refund),
    )


async def fail(
    session: AsyncSession,
    refund: Refund,
    actor: str,
    reason: str,
    *,
    reference: str | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    """approved or processing → failed, with the reason (the provider's, or the limit)."""
    values: dict[str, Any] = {"failure_reason": reason[:1000], "completed_at": utcnow()}
    if reference:
        values["provider_reference"] = reference
    await REFUNDS.move(
        session,
        refund,
        RefundStatus.FAILED,
        actor=actor,
        reason=reason,
        data=data,
        values=values,
        what=_what(refund),
    )


async def retry(session: AsyncSession, failed: Refund, actor: str, attempt: int) -> Refund:
    """A failed refund is tried again as a new refund, ``approved`` already (people
    approved the first), with a new idempotency key (the provider refused the old one
    for good). The failed refund stays failed. Audited as ``retried`` on the new refund."""
    if failed.status != RefundStatus.FAILED:
        raise TransitionError(
            f"Refund {failed.id} is {failed.status}; only failed ones are retried."
        )
    again = Refund(
        return_id=failed.return_id,
        purpose=failed.purpose,
        amount=failed.amount,
        currency=failed.currency,
        status=RefundStatus.APPROVED,
        auto_approved=failed.auto_approved,
        idempotency_key=f"{failed.idempotency_key.split('~')[0]}~{attempt}",
        due_at=failed.due_at,
        decided_at=utcnow(),
    )
    session.add(again)
    await session.flush()
    await record(
        session,
        actor,
        "refund",
        again.id,
        "retried",
        to_state=RefundStatus.APPROVED,
        data={"retry_of": failed.id},
    )
    return again
