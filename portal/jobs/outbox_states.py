"""The outbox row state machine (``OutboxState``, ``OUTBOX_TRANSITIONS`` in
``portal.models.outbox``) and its named moves.

``pending → sent`` (handed to arq or the in-process runner) ``→ done``, or back to
``pending`` with backoff after a failure (or when the queue lost it), ``dead`` when out of
tries or discarded by an operator; an operator may retry a dead row (``pending``).

Every move is a compare-and-set on the row's status. Routine moves (``mark_sent``,
``requeue_stale``, ``finish``, ``fail``) write no audit event: they happen for every side
effect of every return and would flood the audit log, and the row itself keeps
``attempts``, ``last_error`` and its times. What an operator does (``retry``,
``discard``) is audited as before. Nothing here commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.models.base import utcnow
from portal.models.outbox import OUTBOX_TRANSITIONS, OutboxMessage, OutboxState
from portal.states import Machine, TransitionError

OUTBOX = Machine(OutboxState, OUTBOX_TRANSITIONS, OutboxMessage, "status", "outbox_message")

_TO_DONE = tuple(s for s, targets in OUTBOX_TRANSITIONS.items() if OutboxState.DONE in targets)


async def mark_sent(session: AsyncSession, message_ids: Sequence[int], now: datetime) -> int:
    """pending → sent for rows just handed over (rows run meanwhile are left alone)."""
    if not message_ids:
        return 0
    result = await session.exec(
        sa.update(OutboxMessage)
        .where(
            col(OutboxMessage.id).in_(message_ids),
            col(OutboxMessage.status) == OutboxState.PENDING,
        )
        .values(status=OutboxState.SENT, sent_at=now)
    )
    return int(result.rowcount or 0)


async def requeue_stale(session: AsyncSession, now: datetime, stale_after: timedelta) -> int:
    """sent → pending for rows handed over long ago and never finished (a lost queue)."""
    result = await session.exec(
        sa.update(OutboxMessage)
        .where(
            col(OutboxMessage.status) == OutboxState.SENT,
            col(OutboxMessage.sent_at) < now - stale_after,
        )
        .values(status=OutboxState.PENDING, next_attempt_at=now)
    )
    return int(result.rowcount or 0)


async def finish(session: AsyncSession, message_id: int) -> bool:
    """→ done after the job ran; False when the row was already done (run twice)."""
    result = await session.exec(
        sa.update(OutboxMessage)
        .where(col(OutboxMessage.id) == message_id, col(OutboxMessage.status).in_(_TO_DONE))
        .values(
            status=OutboxState.DONE,
            done_at=utcnow(),
            attempts=OutboxMessage.attempts + 1,
            last_error=None,
        )
    )
    return bool(result.rowcount)


async def fail(
    session: AsyncSession, message: OutboxMessage, error: str, *, retry_at: datetime | None
) -> OutboxState:
    """The job raised: count the attempt and keep the error; ``pending`` again at
    ``retry_at``, or ``dead`` when None (out of tries, or not worth retrying). A row an
    operator discarded while it ran stays dead."""
    current = OUTBOX.state_of(message)
    to = OutboxState.PENDING if retry_at is not None else OutboxState.DEAD
    if current == OutboxState.DEAD:
        to = OutboxState.DEAD
    values: dict[str, object] = {"attempts": message.attempts + 1, "last_error": error}
    if retry_at is not None:
        values["next_attempt_at"] = retry_at
    await OUTBOX.move(
        session,
        message,
        to,
        values=values,
        allowed=OUTBOX_TRANSITIONS[current] | {current},
        audit=False,
    )
    return to


async def retry(session: AsyncSession, message: OutboxMessage, actor: str) -> None:
    """An operator runs a failed or dead row again now, with a few more tries (audited)."""
    current = OUTBOX.state_of(message)
    if current == OutboxState.DONE:
        raise TransitionError(f"Job {message.id} is done; there is nothing to retry.")
    await OUTBOX.move(
        session,
        message,
        OutboxState.PENDING,
        actor=actor,
        action="retried",
        values={
            "next_attempt_at": utcnow(),
            "max_attempts": max(message.max_attempts, message.attempts + 3),
        },
        allowed=OUTBOX_TRANSITIONS[current] | {current},
    )


async def discard(session: AsyncSession, message: OutboxMessage, actor: str, reason: str) -> None:
    """An operator gives up on a row: never run again, the reason kept (audited)."""
    current = OUTBOX.state_of(message)
    if current == OutboxState.DONE:
        raise TransitionError(f"Job {message.id} is done; there is nothing to discard.")
    await OUTBOX.move(
        session,
        message,
        OutboxState.DEAD,
        actor=actor,
        action="discarded",
        reason=reason,
        values={
            "max_attempts": message.attempts,
            "last_error": f"Discarded by {actor}: {reason.strip()}\n\n{message.last_error or ''}",
        },
        allowed=OUTBOX_TRANSITIONS[current] | {current},
    )
