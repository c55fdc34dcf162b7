"""People deciding on refunds: approve (four eyes at or above a threshold), reject with a
reason, bulk approve, mark a manual refund paid, retry a failed one.

Every decision locks the refund row (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite
serialises writers) and checks its state first, so fifty clicks on "approve" move it once
and queue its payment once. Each function commits its own transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.audit import record
from portal.models.base import utcnow
from portal.models.money import LIVE_REFUND_STATUSES, Refund, RefundApproval
from portal.models.outbox import OutboxMessage
from portal.models.staff import StaffUser
from portal.money.refunds import (
    RefundLimitExceeded,
    check_limit,
    paid_for_returns,
    queue_payout,
)


class RefundDecisionError(ValueError):
    """The decision is not possible (wrong state, same approver twice, no reason …)."""


@dataclass(frozen=True)
class ApprovalOutcome:
    refund_id: int
    status: str
    approvals: int
    needed: int
    message: str


def approvals_needed(amount: int, threshold: int) -> int:
    return 2 if amount >= threshold else 1


def actor_of(user: StaffUser) -> str:
    return f"user:{user.email}"


async def lock_refund(session: AsyncSession, refund_id: int) -> Refund:
    """Load the refund under a row lock (taken before anything else is read)."""
    if session.bind is not None and session.bind.dialect.name == "sqlite":
        # Take SQLite's write lock first, so the state we read is the state we change.
        await session.exec(  # type: ignore[call-overload]
            sa.update(Refund).where(Refund.id == refund_id).values(id=Refund.id)
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
        raise LookupError(f"There is no refund {refund_id}.")
    return refund


async def approve(
    session: AsyncSession, refund_id: int, user: StaffUser, *, threshold: int
) -> ApprovalOutcome:
    """Record ``user``'s approval; the refund is approved once enough people agreed."""
    try:
        refund = await lock_refund(session, refund_id)
        if refund.status != "pending_approval":
            raise RefundDecisionError(
                f"Refund {refund_id} is {refund.status}; it cannot be approved."
            )
        existing = (
            await session.exec(
                select(RefundApproval.user_id).where(RefundApproval.refund_id == refund_id)
            )
        ).all()
        if user.id in existing:
            raise RefundDecisionError(
                f"You already approved refund {refund_id}; a second, different person must approve it."
            )
        await check_limit(session, refund)
        session.add(RefundApproval(refund_id=refund_id, user_id=user.id))  # type: ignore[arg-type]
        await session.flush()
        count, needed = len(existing) + 1, approvals_needed(refund.amount, threshold)
        await record(
            session,
            actor_of(user),
            "refund",
            refund_id,
            "approval_added",
            data={"approvals": count, "needed": needed},
        )
        if count >= needed:
            refund.status = "approved"
            refund.decided_at = utcnow()
            session.add(refund)
            await record(
                session,
                actor_of(user),
                "refund",
                refund_id,
                "approved",
                from_state="pending_approval",
                to_state="approved",
                data={"approvals": count},
            )
            await queue_payout(session, refund)
            message = f"Refund {refund_id} approved; the payment is queued."
        else:
            message = f"Refund {refund_id} needs a second approver (four eyes)."
        await session.commit()
        return ApprovalOutcome(refund_id, refund.status, count, needed, message)
    except (RefundDecisionError, LookupError, RefundLimitExceeded):
        await session.rollback()
        raise
    except IntegrityError:
        await session.rollback()
        raise RefundDecisionError(f"You already approved refund {refund_id}.") from None


BULK_CHUNK = 200


async def bulk_approve(
    session: AsyncSession, refund_ids: list[int], user: StaffUser, *, threshold: int
) -> tuple[list[ApprovalOutcome], dict[int, str]]:
    """Approve many refunds; report what worked and what did not.

    Chunks of ``BULK_CHUNK`` are decided in one transaction each (rows locked in id order,
    every check made before anything is written), which is what makes a bulk approval
    fast; should a chunk hit a database conflict, it is redone one refund at a time.
    """
    ids = list(dict.fromkeys(refund_ids))
    done: list[ApprovalOutcome] = []
    errors: dict[int, str] = {}
    for start in range(0, len(ids), BULK_CHUNK):
        chunk = ids[start : start + BULK_CHUNK]
        try:
            chunk_done, chunk_errors = await _approve_chunk(session, chunk, user, threshold)
        except sa.exc.DBAPIError:
            await session.rollback()
            chunk_done, chunk_errors = [], {}
            for refund_id in chunk:
                try:
                    chunk_done.append(await approve(session, refund_id, user, threshold=threshold))
                except (RefundDecisionError, LookupError, RefundLimitExceeded) as exc:
                    chunk_errors[refund_id] = str(exc)
        done.extend(chunk_done)
        errors.update(chunk_errors)
    return done, errors


async def _approve_chunk(
    session: AsyncSession, chunk: list[int], user: StaffUser, threshold: int
) -> tuple[list[ApprovalOutcome], dict[int, str]]:
    if session.bind is not None and session.bind.dialect.name == "sqlite":
        await session.exec(  # type: ignore[call-overload]
            sa.update(Refund).where(Refund.id.in_(chunk)).values(id=Refund.id)  # type: ignore[union-attr]
        )
    refunds = {
        r.id: r
        for r in (
            await session.exec(
                select(Refund)
                .where(Refund.id.in_(chunk))  # type: ignore[union-attr]
                .order_by(Refund.id)  # type: ignore[arg-type]
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        ).all()
    }
    approvers: dict[int, set[int]] = {}
    for refund_id, user_id in (
        await session.exec(
            select(RefundApproval.refund_id, RefundApproval.user_id).where(
                RefundApproval.refund_id.in_(chunk)  # type: ignore[attr-defined]
            )
        )
    ).all():
        approvers.setdefault(refund_id, set()).add(user_id)
    return_ids = sorted({r.return_id for r in refunds.values()})
    paid = await paid_for_returns(session, return_ids)
    live: dict[int, list[tuple[int, int]]] = {}
    for return_id, refund_id, amount in (
        await session.exec(
            select(Refund.return_id, Refund.id, Refund.amount).where(
                Refund.return_id.in_(return_ids),  # type: ignore[attr-defined]
                Refund.status.in_(LIVE_REFUND_STATUSES),  # type: ignore[attr-defined]
            )
        )
    ).all():
        live.setdefault(return_id, []).append((refund_id, amount))
    done: list[ApprovalOutcome] = []
    errors: dict[int, str] = {}
    now = utcnow()
    actor = actor_of(user)
    approved: list[Refund] = []
    for refund_id in chunk:
        refund = refunds.get(refund_id)
        if refund is None:
            errors[refund_id] = f"There is no refund {refund_id}."
            continue
        if refund.status != "pending_approval":
            errors[refund_id] = f"Refund {refund_id} is {refund.status}; it cannot be approved."
            continue
        if user.id in approvers.get(refund_id, set()):
            errors[refund_id] = (
                f"You already approved refund {refund_id}; a second, different person must "
                "approve it."
            )
            continue
        others = sum(a for rid, a in live.get(refund.return_id, []) if rid != refund_id)
        room = max(0, paid.get(refund.return_id, 0) - others)
        if refund.amount > room:
            errors[refund_id] = (
                f"Refund of {refund.amount} exceeds the {room} still refundable for this return."
            )
            continue
        session.add(RefundApproval(refund_id=refund_id, user_id=user.id))  # type: ignore[arg-type]
        count = len(approvers.get(refund_id, set())) + 1
        needed = approvals_needed(refund.amount, threshold)
        await record(
            session,
            actor,
            "refund",
            refund_id,
            "approval_added",
            data={"approvals": count, "needed": needed},
        )
        if count >= needed:
            refund.status = "approved"
            refund.decided_at = now
            session.add(refund)
            await record(
                session,
                actor,
                "refund",
                refund_id,
                "approved",
                from_state="pending_approval",
                to_state="approved",
                data={"approvals": count},
            )
            approved.append(refund)
            message = f"Refund {refund_id} approved; the payment is queued."
        else:
            message = f"Refund {refund_id} needs a second approver (four eyes)."
        done.append(ApprovalOutcome(refund_id, refund.status, count, needed, message))
    if approved:
        await session.flush()
        keys = [f"issue_refund:{r.id}" for r in approved]
        queued = set(
            (
                await session.exec(
                    select(OutboxMessage.dedupe_key).where(OutboxMessage.dedupe_key.in_(keys))  # type: ignore[attr-defined]
                )
            ).all()
        )
        with session.no_autoflush:
            for refund in approved:
                if f"issue_refund:{refund.id}" not in queued:
                    # what ``enqueue`` writes, without its one look-up per key
                    session.add(
                        OutboxMessage(
                            job="issue_refund",
                            payload={"refund_id": refund.id},
                            dedupe_key=f"issue_refund:{refund.id}",
                            next_attempt_at=now,
                        )
                    )
    await session.commit()
    return done, errors


SHOPPER_MESSAGE_LIMIT = 1000


async def reject(
    session: AsyncSession,
    refund_id: int,
    user: StaffUser,
    reason: str,
    *,
    shopper_message: str = "",
    signer: Any = None,
) -> Refund:
    """Refuse a refund that waits for approval; the reason is kept and shown to staff.

    In the same transaction the return is closed when nothing else is left to wait for
    (``inspected → completed``, or ``approved → completed`` for a keep-every-item return),
    and, given a ``signer``, the shopper is told by the ``return_refund_declined`` e-mail.
    The internal ``reason`` never reaches the shopper: ``shopper_message`` does, or a
    standard sentence pointing to the store's support address.
    """
    reason = reason.strip()
    shopper_message = shopper_message.strip()[:SHOPPER_MESSAGE_LIMIT]
    if not reason:
        raise RefundDecisionError("Say why the refund is rejected.")
    try:
        refund = await lock_refund(session, refund_id)
        if refund.status != "pending_approval":
            raise RefundDecisionError(
                f"Refund {refund_id} is {refund.status}; it cannot be rejected."
            )
        refund.status = "rejected"
        refund.rejection_reason = reason[:1000]
        refund.decided_at = utcnow()
        session.add(refund)
        await record(
            session,
            actor_of(user),
            "refund",
            refund_id,
            "rejected",
            from_state="pending_approval",
            to_state="rejected",
            reason=reason,
            data={"shopper_message": shopper_message},
        )
        await _after_rejection(session, refund, actor_of(user), shopper_message, signer)
        await session.commit()
        return refund
    except BaseException:
        await session.rollback()
        raise


async def _after_rejection(
    session: AsyncSession, refund: Refund, actor: str, shopper_message: str, signer: Any
) -> None:
    """Close the return when no other refund is left in flight (mirrors a paid refund in
    ``portal.money.payouts``) and tell the shopper the refund was declined."""
    from portal.models.orders import Order
    from portal.models.returns import Return
    from portal.money.payouts import complete_if_settled
    from portal.returns.notify import notify_shopper

    ret = await session.get(Return, refund.return_id)
    if ret is None:
        return
    await complete_if_settled(session, ret, refund, actor, "Refund declined by finance")
    order = await session.get(Order, ret.order_id)
    if signer is not None and order is not None:
        await notify_shopper(
            session,
            ret,
            order,
            "refund_declined",
            signer,
            extra={
                "shopper_message": shopper_message,
                "declined_amount": refund.amount,
                "completed": ret.status == "completed",
            },
        )


async def bulk_reject(
    session: AsyncSession,
    refund_ids: list[int],
    user: StaffUser,
    reason: str,
    *,
    shopper_message: str = "",
    signer: Any = None,
) -> tuple[list[int], dict[int, str]]:
    """Reject many refunds with one reason (and one message to the shopper), each in its
    own transaction exactly as ``reject``; report what worked and what did not."""
    if not reason.strip():
        raise RefundDecisionError("Say why the refunds are rejected.")
    done: list[int] = []
    errors: dict[int, str] = {}
    for refund_id in dict.fromkeys(refund_ids):
        try:
            await reject(
                session,
                refund_id,
                user,
                reason,
                shopper_message=shopper_message,
                signer=signer,
            )
            done.append(refund_id)
        except (RefundDecisionError, LookupError) as exc:
            errors[refund_id] = str(exc)
    return done, errors


async def mark_paid(
    session: AsyncSession, refund_id: int, user: StaffUser, reference: str, *, signer: Any = None
) -> Refund:
    """Manual payments: finance paid outside the portal and records the reference."""
    from portal.money.payouts import settle
    from portal.payments import ProviderRefund

    reference = reference.strip()
    if not reference:
        raise RefundDecisionError("Enter the payment reference (bank transfer id, receipt …).")
    try:
        refund = await lock_refund(session, refund_id)
        if refund.status != "processing" or refund.provider != "manual":
            raise RefundDecisionError(
                f"Refund {refund_id} is {refund.status} ({refund.provider}); only manual refunds "
                "being processed can be marked paid."
            )
        await settle(
            session,
            refund,
            ProviderRefund(reference[:255], "succeeded", refund.amount, refund.currency, refund.id),
            actor=actor_of(user),
            signer=signer,
        )
        await session.commit()
        return refund
    except BaseException:
        await session.rollback()
        raise


async def retry_failed(session: AsyncSession, refund_id: int, user: StaffUser) -> Refund:
    """Try a failed refund again as a new refund (new idempotency key: the provider refused
    the old one for good), approved already since people approved the first."""
    try:
        failed = await lock_refund(session, refund_id)
        if failed.status != "failed":
            raise RefundDecisionError(
                f"Refund {refund_id} is {failed.status}; only failed ones are retried."
            )
        attempts = (
            await session.exec(  # type: ignore[call-overload]
                sa.select(sa.func.count()).where(
                    Refund.return_id == failed.return_id, Refund.purpose == failed.purpose
                )
            )
        ).scalar_one()
        retry = Refund(
            return_id=failed.return_id,
            purpose=failed.purpose,
            amount=failed.amount,
            currency=failed.currency,
            status="approved",
            auto_approved=failed.auto_approved,
            idempotency_key=f"{failed.idempotency_key.split('~')[0]}~{attempts + 1}",
            due_at=failed.due_at,
            decided_at=utcnow(),
        )
        session.add(retry)
        await session.flush()
        await check_limit(session, retry)
        await record(
            session,
            actor_of(user),
            "refund",
            retry.id,
            "retried",
            to_state="approved",
            data={"retry_of": refund_id},
        )
        await queue_payout(session, retry)
        await session.commit()
        return retry
    except BaseException:
        await session.rollback()
        raise
