"""Outbox jobs for money: pay a refund, apply a Stripe webhook. Both safe to run twice."""

from __future__ import annotations

from typing import Any

from portal.jobs.names import Job
from portal.jobs.registry import Jobs
from portal.models.base import utcnow
from portal.models.outbox import ReceivedWebhook
from portal.money.payouts import apply_provider_refunds, issue
from portal.payments import ProviderRefund


async def issue_refund(ctx: Any, *, message_id: int, refund_id: int, **_: Any) -> None:
    """Pay an approved refund through the configured provider (exactly once in effect)."""
    await issue(ctx.db, ctx.payments, refund_id)


async def apply_stripe_event(ctx: Any, *, message_id: int, webhook_id: int, **_: Any) -> None:
    """Settle our refunds from a stored, verified Stripe event."""
    async with ctx.db.session() as session:
        hook = await session.get(ReceivedWebhook, webhook_id)
        if hook is None or hook.processed_at is not None:
            return
        refunds = [ProviderRefund(**item) for item in hook.payload.get("refunds", [])]
    await apply_provider_refunds(ctx.db, "stripe", refunds)
    async with ctx.db.session() as session:
        hook = await session.get(ReceivedWebhook, webhook_id)
        if hook is not None:
            hook.processed_at = utcnow()
            session.add(hook)
            await session.commit()


JOBS: Jobs = {Job.ISSUE_REFUND: issue_refund, Job.APPLY_STRIPE_EVENT: apply_stripe_event}
