"""The transactional outbox: side effects are rows written with the change that causes them.

``enqueue`` adds a row in the caller's transaction (it never commits), so a side effect
exists if and only if its cause was committed. The dispatcher later hands due rows to arq
or to the in-process runner; ``run_message`` executes one row's job exactly once in effect.
"""

from __future__ import annotations

import logging
import random
import traceback
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.jobs import outbox_states
from portal.jobs.names import Job, is_known
from portal.jobs.registry import JobRuntime
from portal.models.base import utcnow
from portal.models.outbox import OUTBOX_FINISHED, OutboxMessage, OutboxState, ReceivedWebhook

logger = logging.getLogger("portal.outbox")

BACKOFF_BASE_SECONDS = 5
BACKOFF_MAX_SECONDS = 3600


class NoSuchJob(LookupError):
    """A row names a job this process has no function for; not retried."""

    retryable = False

    def __init__(self, job: str) -> None:
        super().__init__(f"no function is registered for job {job!r}")


async def enqueue(
    session: AsyncSession,
    job: Job | str,
    payload: dict[str, Any],
    *,
    key: str,
    run_at: datetime | None = None,
    max_attempts: int = 8,
) -> OutboxMessage | None:
    """Queue ``job(payload)`` in the caller's transaction; the same ``key`` is queued once.

    ``key`` names the effect (``"label:RMA-123"``, ``"email:return_created:42"``), so a
    retried request or a double click cannot queue the same effect twice. Returns the new
    row, or None when that key was queued before.
    """
    if not is_known(job):
        raise ValueError(f"unknown job {job!r}")
    existing = (
        await session.exec(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == key))
    ).first()
    if existing is not None:
        return None
    message = OutboxMessage(
        job=job,
        payload=payload,
        dedupe_key=key,
        max_attempts=max_attempts,
        next_attempt_at=run_at or utcnow(),
    )
    session.add(message)
    await session.flush()
    return message


def backoff(attempts: int, rng: random.Random | None = None) -> timedelta:
    """Exponential backoff with full jitter: 5 s, 10 s, 20 s … capped at an hour."""
    ceiling = min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(0, attempts - 1))
    return timedelta(seconds=(rng or random).uniform(ceiling / 2, ceiling))


async def run_message(ctx: JobRuntime, message_id: int) -> str:
    """Run one outbox row's job. Safe to call twice: a finished row is not run again.

    The job runs outside the row lock (it may call slow providers); the row is then
    marked done or, on error, scheduled for retry with backoff, or dead when out of tries.
    """
    db = ctx.db
    async with db.session() as session:
        message = await session.get(OutboxMessage, message_id)
        if message is None:
            return "missing"
        if message.status in OUTBOX_FINISHED:
            return message.status
        job, payload = message.job, dict(message.payload)
    try:
        function = ctx.jobs.get(job)
        if function is None:
            raise NoSuchJob(job)
        await function(ctx, message_id=message_id, **payload)
    except Exception as exc:  # every failure is recorded on the row, never lost
        error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        logger.warning(
            "job failed", extra={"fields": {"job": job, "message_id": message_id, "error": error}}
        )
        async with db.session() as session:
            message = await session.get(OutboxMessage, message_id, with_for_update=True)
            if message is None or message.status == OutboxState.DONE:
                return OutboxState.DONE
            attempts = message.attempts + 1
            out_of_tries = attempts >= message.max_attempts
            state = await outbox_states.fail(
                session,
                message,
                error + "\n" + "".join(traceback.format_tb(exc.__traceback__))[-4000:],
                retry_at=None
                if out_of_tries or getattr(exc, "retryable", True) is False
                else ctx.now() + backoff(attempts),
            )
            await session.commit()
            return state
    async with db.session() as session:
        await outbox_states.finish(session, message_id)
        await session.commit()
    return OutboxState.DONE


async def retry_message(session: AsyncSession, message_id: int, actor: str) -> OutboxMessage:
    """An operator retries a failed or dead row now, with a few more tries."""
    message = await session.get(OutboxMessage, message_id)
    if message is None or message.status == OutboxState.DONE:
        raise LookupError("That job is not waiting or failed.")
    await outbox_states.retry(session, message, actor)
    await session.commit()
    return message


async def discard_message(
    session: AsyncSession, message_id: int, actor: str, reason: str
) -> OutboxMessage:
    """An operator gives up on a row: it is never run again, and the reason is kept."""
    if not reason.strip():
        raise ValueError("Say why the job is discarded.")
    message = await session.get(OutboxMessage, message_id)
    if message is None or message.status == OutboxState.DONE:
        raise LookupError("That job is not waiting or failed.")
    await outbox_states.discard(session, message, actor, reason)
    await session.commit()
    return message


async def outbox_overview(session: AsyncSession, limit: int = 100) -> dict[str, Any]:
    """Counts by state, and the rows an operator should look at."""
    counts = dict(
        (
            await session.exec(
                select(col(OutboxMessage.status), sa.func.count()).group_by(
                    col(OutboxMessage.status)
                )
            )
        ).all()
    )
    failing = (
        await session.exec(
            select(OutboxMessage)
            .where(OutboxMessage.status == OutboxState.PENDING, OutboxMessage.attempts > 0)
            .order_by(col(OutboxMessage.next_attempt_at))
            .limit(limit)
        )
    ).all()
    dead = (
        await session.exec(
            select(OutboxMessage)
            .where(OutboxMessage.status == OutboxState.DEAD)
            .order_by(col(OutboxMessage.id).desc())
            .limit(limit)
        )
    ).all()
    return {
        "counts": {s: counts.get(s, 0) for s in OutboxState},
        "failing": list(failing),
        "dead": list(dead),
    }


async def accept_webhook(
    session: AsyncSession,
    *,
    provider: str,
    event_id: str,
    event_type: str,
    payload: dict[str, Any],
    job: Job,
) -> bool:
    """Store a verified provider event once and queue the job that applies it; commits.

    Returns False for an event id seen before (a re-delivery): nothing is written.
    """
    hook = ReceivedWebhook(
        provider=provider, event_id=event_id, event_type=event_type[:80], payload=payload
    )
    session.add(hook)
    try:
        await session.flush()
        await enqueue(session, job, {"webhook_id": hook.id}, key=f"webhook:{provider}:{event_id}")
        await session.commit()
    except IntegrityError:
        await session.rollback()
        return False
    return True
