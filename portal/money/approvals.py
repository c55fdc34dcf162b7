"""People deciding on refunds: approve (four eyes at or above a threshold), reject with a
reason, bulk approve, mark a manual refund paid, retry a failed one.

Every decision locks the refund row (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite
serialises writers) and checks its state first, so fifty clicks on "approve" move it once
and queue its payment once. Each function commits its own transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.audit import record
from portal.errors import Conflict
from portal.models.base import id_of, utcnow
from portal.models.money import LIVE_REFUND_STATUSES, Refund, RefundApproval, RefundStatus
from portal.models.outbox import OutboxMessage
from portal.models.staff import StaffUser
from portal.money import refund_states
from portal.money.hooks import refund_settled
from portal.money.payouts import settle
from portal.money.refunds import (
    RefundLimitExceeded,
    check_limit,
    lock_refund,
    paid_for_returns,
    queue_payout,
)
from portal.payments import ProviderRefund


class RefundDecisionError(Conflict):
    """The decision is not possible (wrong state, same approver twice, no reason …)."""


@dataclass(frozen=True)
class ApprovalOutcome:
    refund_id: int
    status: RefundStatus
    approvals: int
    needed: int
    message: str


def approvals_needed(amount: int, threshold: int) -> int:
    return 2 if amount >= threshold else 1


def actor_of(user: StaffUser) -> str:
    return f"user:{user.email}"


async def approve(
    session: AsyncSession, refund_id: int, user: StaffUser, *, threshold: int
) -> ApprovalOutcome:
    """Record ``user``'s approval; the refund is approved once enough people agreed."""
    try:
        refund = await lock_refund(session, refund_id)
        if refund.status != RefundStatus.PENDING_APPROVAL:
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
        session.add(RefundApproval(refund_id=refund_id, user_id=id_of(user)))
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
            await refund_states.approve(session, refund, actor_of(user), data={"approvals": count})
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
        await session.exec(sa.update(Refund).where(col(Refund.id).in_(chunk)).values(id=Refund.id))
    refunds = {
        r.id: r
        for r in (
            await session.exec(
                select(Refund)
                .where(col(Refund.id).in_(chunk))
                .order_by(col(Refund.id))
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        ).all()
    }
    approvers: dict[int, set[int]] = {}
    for refund_id, user_id in (
        await session.exec(
            select(RefundApproval.refund_id, RefundApproval.user_id).where(
                col(RefundApproval.refund_id).in_(chunk)
            )
        )
    ).all():
        approvers.setdefault(refund_id, set()).add(user_id)
    return_ids = sorted({r.return_id for r in refunds.values()})
    paid = await paid_for_returns(session, return_ids)
    live: dict[int, list[tuple[int | None, int]]] = {}
    for return_id, live_id, amount in (
        await session.exec(
            select(Refund.return_id, Refund.id, Refund.amount).where(
                col(Refund.return_id).in_(return_ids),
                col(Refund.status).in_(LIVE_REFUND_STATUSES),
            )
        )
    ).all():
        live.setdefault(return_id, []).append((live_id, amount))
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
        if refund.status != RefundStatus.PENDING_APPROVAL:
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
        session.add(RefundApproval(refund_id=refund_id, user_id=id_of(user)))
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
            await refund_states.approve(session, refund, actor, data={"approvals": count})
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
                    select(OutboxMessage.dedupe_key).where(col(OutboxMessage.dedupe_key).in_(keys))
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
) -> Refund:
    """Refuse a refund that waits for approval; the reason is kept and shown to staff.

    In the same transaction the settled-refund hook (``portal.money.hooks``) closes the
    return when nothing else is left to wait for (``inspected → completed``, or
    ``approved → completed`` for a keep-every-item return) and tells the shopper by the
    ``return_refund_declined`` e-mail.
    The internal ``reason`` never reaches the shopper: ``shopper_message`` does, or a
    standard sentence pointing to the store's support address.
    """
    reason = reason.strip()
    shopper_message = shopper_message.strip()[:SHOPPER_MESSAGE_LIMIT]
    if not reason:
        raise RefundDecisionError("Say why the refund is rejected.")
    try:
        refund = await lock_refund(session, refund_id)
        if refund.status != RefundStatus.PENDING_APPROVAL:
            raise RefundDecisionError(
                f"Refund {refund_id} is {refund.status}; it cannot be rejected."
            )
        await refund_states.decline(
            session, refund, actor_of(user), reason, data={"shopper_message": shopper_message}
        )
        await refund_settled(session, refund, actor=actor_of(user), shopper_message=shopper_message)
        await session.commit()
        return refund
    except BaseException:
        await session.rollback()
        raise


async def bulk_reject(
    session: AsyncSession,
    refund_ids: list[int],
    user: StaffUser,
    reason: str,
    *,
    shopper_message: str = "",
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
            )
            done.append(refund_id)
        except (RefundDecisionError, LookupError) as exc:
            errors[refund_id] = str(exc)
    return done, errors


async def mark_paid(
    session: AsyncSession, refund_id: int, user: StaffUser, reference: str
) -> Refund:
    """Manual payments: finance paid outside the portal and records the reference."""
    reference = reference.strip()
    if not reference:
        raise RefundDecisionError("Enter the payment reference (bank transfer id, receipt …).")
    try:
        refund = await lock_refund(session, refund_id)
        if refund.status != RefundStatus.PROCESSING or refund.provider != "manual":
            raise RefundDecisionError(
                f"Refund {refund_id} is {refund.status} ({refund.provider}); only manual refunds "
                "being processed can be marked paid."
            )
        await settle(
            session,
            refund,
            ProviderRefund(reference[:255], "succeeded", refund.amount, refund.currency, refund.id),
            actor=actor_of(user),
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
        if failed.status != RefundStatus.FAILED:
            raise RefundDecisionError(
                f"Refund {refund_id} is {failed.status}; only failed ones are retried."
            )
        attempts = (
            await session.exec(
                select(sa.func.count()).where(
                    Refund.return_id == failed.return_id, Refund.purpose == failed.purpose
                )
            )
        ).one()
        retry = await refund_states.retry(session, failed, actor_of(user), attempts + 1)
        await check_limit(session, retry)
        await queue_payout(session, retry)
        await session.commit()
        return retry
    except BaseException:
        await session.rollback()
        raise
