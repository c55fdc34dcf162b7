"""Scheduled work, driven by the active policy's timelines; runs once a minute.

Each scan changes state and queues its side effects in one transaction per item, with
outbox keys that name the effect, so a tick that runs twice (two workers, a retry)
changes nothing the second time.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

logger = logging.getLogger("portal.schedule")

Scan = Callable[[Any], Awaitable[int]]
SCANS: list[tuple[str, Scan]] = []


def scan(name: str) -> Callable[[Scan], Scan]:
    def register(fn: Scan) -> Scan:
        SCANS.append((name, fn))
        return fn

    return register


async def tick(ctx: Any) -> dict[str, int]:
    """Run every scan; one failing scan does not stop the others."""
    results: dict[str, int] = {}
    for name, fn in SCANS:
        try:
            results[name] = await fn(ctx)
        except Exception:
            logger.exception("scheduled scan failed", extra={"fields": {"scan": name}})
            results[name] = -1
    return results


def _bucket(ctx: Any, minutes: float) -> int:
    return int(ctx.now().timestamp() // (minutes * 60))


@scan("refresh_trackers")
async def refresh_trackers(ctx: Any) -> int:
    """Ask the carrier about parcels on their way (webhooks can be missed).

    The sandbox is asked every minute so the demo moves; a real carrier every
    ``PORTAL_TRACKING_REFRESH_MINUTES``.
    """
    from sqlmodel import select

    from portal.jobs.outbox import enqueue
    from portal.models.returns import Return

    minutes = ctx.settings.tracking_refresh_minutes if ctx.settings.easypost_api_key else 1
    bucket = _bucket(ctx, minutes)
    queued = 0
    async with ctx.db.session() as session:
        rows = (
            await session.exec(
                select(Return.id, Return.rma).where(
                    Return.status.in_(("label_issued", "in_transit")),  # type: ignore[attr-defined]
                    Return.tracking_code.is_not(None),  # type: ignore[union-attr]
                )
            )
        ).all()
        for return_id, rma in rows:
            if await enqueue(
                session, "refresh_tracking", {"return_id": return_id}, key=f"track:{rma}:{bucket}"
            ):
                queued += 1
        await session.commit()
    return queued


def _signer(ctx: Any) -> Any:
    from portal.returns.links import LinkSigner

    return LinkSigner(ctx.settings.ensure_secret_key())


@scan("remind_unshipped")
async def remind_unshipped(ctx: Any) -> int:
    from portal.returns.timelines import send_reminders

    return await send_reminders(ctx.db, ctx.now(), _signer(ctx))


@scan("expire_unshipped")
async def expire_unshipped(ctx: Any) -> int:
    from portal.returns.timelines import expire_unshipped as expire

    return len(await expire(ctx.db, ctx.now(), _signer(ctx)))


@scan("escalate_refunds")
async def escalate_refunds(ctx: Any) -> int:
    from portal.returns.timelines import escalate_overdue_refunds

    return await escalate_overdue_refunds(ctx.db, ctx.now())


@scan("expire_store_credit")
async def expire_store_credit(ctx: Any) -> int:
    from portal.returns.timelines import expire_store_credit as expire

    return await expire(ctx.db, ctx.now())
