"""Paying an approved refund exactly once, and taking in what the provider says.

``issue``: under the refund's row lock, ``approved → processing`` (that compare-and-set is
the claim: one caller wins), then the provider is called outside any lock with the refund's
idempotency key, and the answer is applied by ``settle`` under the lock again. A retry
(the refund is still ``processing``, so an earlier attempt may have reached the provider)
sends the same key and asks the provider to look for an earlier refund first.

``settle`` is idempotent and order-free: a webhook that arrives before the API response
settles the refund, and the late response then finds it settled and changes nothing, so
nothing is counted twice. A paid refund is announced to the store and handed to the
settled-refund hook (``portal.money.hooks``), which completes the return when nothing
else is left to pay and tells the shopper.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.audit import record
from portal.db import Database
from portal.models.base import utcnow
from portal.models.money import REFUND_CLOSED, REFUND_PAYABLE, Refund, RefundStatus
from portal.models.orders import Order
from portal.models.returns import Return
from portal.money import refund_states
from portal.money.hooks import refund_settled
from portal.money.refunds import RefundLimitExceeded, check_limit, lock_refund
from portal.payments import Payments, PaymentsError, ProviderRefund, RefundRequest
from portal.webhooks import emit

logger = logging.getLogger("portal.money")
CLAIM_LEASE = timedelta(minutes=2)
"""Longer than the SDK's request timeout (30 s), so a live claim means a live call."""


async def settle(
    session: AsyncSession, refund: Refund, result: ProviderRefund, *, actor: str
) -> bool:
    """Apply a provider's word to a locked refund being paid; True when it changed anything."""
    if refund.status in REFUND_CLOSED:
        if refund.provider_reference and refund.provider_reference != result.reference:
            logger.warning(
                "provider reports a second refund",
                extra={"fields": {"refund": refund.id, "reference": result.reference}},
            )
        return False
    if refund.status != RefundStatus.PROCESSING:
        logger.warning(
            "provider reports a refund never sent",
            extra={"fields": {"refund": refund.id, "status": refund.status}},
        )
        return False
    if result.status == "pending":
        refund.provider_reference = result.reference or refund.provider_reference
        session.add(refund)
        await record(
            session,
            actor,
            "refund",
            refund.id,
            "provider_pending",
            data={"reference": result.reference},
        )
        return True
    if result.status == "failed":
        await refund_states.fail(
            session,
            refund,
            actor,
            result.failure_reason or "The provider refused the refund.",
            reference=result.reference,
            data={"reference": result.reference, "amount": result.amount},
        )
        return True
    await refund_states.mark_paid(
        session, refund, actor, reference=result.reference, amount=result.amount
    )
    if refund.status == RefundStatus.SUCCEEDED:
        await _after_success(session, refund, actor)
    return True


async def _after_success(session: AsyncSession, refund: Refund, actor: str) -> None:
    """Tell the store, then the settled-refund hook (the return is completed when nothing
    else is left to pay, and the shopper told)."""
    ret = await session.get(Return, refund.return_id)
    if ret is None:
        return
    order = await session.get(Order, ret.order_id)
    await emit(
        session,
        "refund.succeeded",
        {
            "refund_id": refund.id,
            "rma": ret.rma,
            "order_number": order.number if order else None,
            "amount": refund.amount,
            "currency": refund.currency,
            "purpose": refund.purpose,
            "provider": refund.provider,
            "provider_reference": refund.provider_reference,
        },
        key=f"refund.succeeded:{refund.id}",
    )
    await refund_settled(session, refund, actor=actor)


class RefundInFlight(PaymentsError):
    """Another worker holds the claim on this refund's payment right now."""

    def __init__(self, refund_id: int) -> None:
        super().__init__(f"Refund {refund_id} is being paid by another worker.", retryable=True)


async def issue(db: Database, payments: Payments, refund_id: int) -> str:
    """Pay refund ``refund_id`` once. Returns its status afterwards.

    The claim: under the row lock, a worker takes a lease (``claimed_until``) and counts
    the attempt; a second worker meanwhile gets ``RefundInFlight`` (retryable, so its
    outbox row looks again later, after the lease if the first worker died). Raises
    ``PaymentsError`` with ``retryable=True`` when the outcome is unknown: the outbox
    retries with backoff, the same idempotency key and a look for an earlier refund
    first. A definite refusal ends the refund ``failed`` with the reason.
    """
    async with db.session() as session:
        refund = await lock_refund(session, refund_id)
        status = refund.status
        if status not in REFUND_PAYABLE or (
            status == RefundStatus.PROCESSING and refund.provider_reference
        ):
            await session.rollback()  # done, or the provider has it and will tell us
            return status
        moment = utcnow()
        if refund.claimed_until is not None and refund.claimed_until > moment:
            await session.rollback()
            raise RefundInFlight(refund_id)
        if refund.status == RefundStatus.APPROVED:
            try:
                await check_limit(session, refund)
            except RefundLimitExceeded as exc:
                await refund_states.fail(session, refund, "system", str(exc))
                await session.commit()
                return refund.status
            await refund_states.start_processing(session, refund, payments.name)
        retry = refund.attempts > 0
        refund.attempts += 1
        refund.claimed_until = moment + CLAIM_LEASE
        session.add(refund)
        ret = await session.get(Return, refund.return_id)
        order = await session.get(Order, ret.order_id) if ret else None
        request = RefundRequest(
            refund_id=refund_id,
            amount=refund.amount,
            currency=refund.currency,
            payment_reference=order.payment_reference if order else None,
            idempotency_key=refund.idempotency_key,
            retry=retry,
        )
        await session.commit()
    try:
        result = await payments.refund(request)
    except PaymentsError as exc:
        if exc.retryable:
            await _release(db, refund_id, str(exc))
            raise
        result = ProviderRefund("", "failed", request.amount, request.currency, refund_id, str(exc))
    except BaseException as exc:
        await _release(db, refund_id, f"{type(exc).__name__}: {exc}")
        raise
    async with db.session() as session:
        refund = await lock_refund(session, refund_id)
        refund.claimed_until = None
        session.add(refund)
        if result is not None:  # None: manual payments, finance marks it paid
            await settle(session, refund, result, actor=f"provider:{payments.name}")
        await session.commit()
        return refund.status


async def _release(db: Database, refund_id: int, error: str) -> None:
    """Give the claim back after an attempt whose outcome is unknown (audited)."""
    async with db.session() as session:
        refund = await lock_refund(session, refund_id)
        refund.claimed_until = None
        session.add(refund)
        await record(
            session,
            "system",
            "refund",
            refund_id,
            "attempt_failed",
            reason=error[:2000],
            data={"attempt": refund.attempts},
        )
        await session.commit()


async def apply_provider_refunds(db: Database, provider: str, refunds: list[ProviderRefund]) -> int:
    """Settle our refunds from a webhook's refunds (matched by our id, else by reference)."""
    changed = 0
    for item in refunds:
        async with db.session() as session:
            refund_id = item.refund_id
            if refund_id is None and item.reference:
                refund_id = (
                    await session.exec(
                        select(Refund.id).where(Refund.provider_reference == item.reference)
                    )
                ).first()
            if refund_id is None:
                continue
            try:
                refund = await lock_refund(session, refund_id)
            except LookupError:
                continue
            if refund.status != RefundStatus.PROCESSING:
                await session.rollback()
                continue
            if await settle(session, refund, item, actor=f"provider:{provider}"):
                changed += 1
            await session.commit()
    return changed
