"""Moves due outbox rows to whoever runs them: arq on Redis, or the in-process runner.

Rows are claimed under a row lock (``SKIP LOCKED`` on PostgreSQL, so several worker
replicas can dispatch side by side), handed over, and only then marked ``sent``. If the
hand-over fails (Redis is down), the row simply stays ``pending`` and goes next time. A
row that was ``sent`` but never finished (its job was lost with Redis, say) is put back by
``sweep``; running it again is safe because every job is idempotent.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlmodel import col, select

from portal.db import Database
from portal.jobs import outbox_states
from portal.models.base import id_of
from portal.models.outbox import OutboxMessage, OutboxState

logger = logging.getLogger("portal.dispatcher")

Submit = Callable[[OutboxMessage], Awaitable[None]]


def arq_job_id(message: OutboxMessage) -> str:
    """One arq job per row and attempt: re-dispatching the same attempt is refused by arq."""
    return f"outbox-{message.id}-{message.attempts}"


async def dispatch_due(db: Database, submit: Submit, now: datetime, batch: int = 200) -> int:
    """Hand every due pending row to ``submit``; returns how many were handed over."""
    async with db.session() as session:
        query = (
            select(OutboxMessage)
            .where(
                OutboxMessage.status == OutboxState.PENDING, OutboxMessage.next_attempt_at <= now
            )
            .order_by(col(OutboxMessage.next_attempt_at), col(OutboxMessage.id))
            .limit(batch)
        )
        if db.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True)
        messages = list((await session.exec(query)).all())
        if not messages:
            return 0
        handed: list[int] = []
        try:
            for message in messages:
                await submit(message)
                handed.append(id_of(message))
        finally:
            await outbox_states.mark_sent(session, handed, now)
            await session.commit()
        return len(handed)


async def sweep(db: Database, now: datetime, stale_after: timedelta) -> int:
    """Put rows that were sent long ago but never finished back in the queue."""
    async with db.session() as session:
        requeued = await outbox_states.requeue_stale(session, now, stale_after)
        await session.commit()
        if requeued:
            logger.warning("re-queued stale outbox rows", extra={"fields": {"rows": requeued}})
        return requeued
