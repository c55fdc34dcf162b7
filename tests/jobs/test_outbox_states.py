"""The outbox row's machine: a finished row is never moved again, a stale copy cannot
overwrite what another worker recorded, and only operators' moves are audited."""

from __future__ import annotations

import pytest
from sqlmodel import select

from portal.jobs import outbox_states
from portal.jobs.names import Job
from portal.jobs.outbox import enqueue
from portal.models.audit import AuditEvent
from portal.models.base import utcnow
from portal.models.outbox import OutboxMessage, OutboxState
from portal.states import TransitionError


async def _queued(db) -> int:
    async with db.session() as session:
        message = await enqueue(session, Job.NOOP, {}, key="noop:states")
        await session.commit()
        return message.id  # type: ignore[union-attr,return-value]


async def _row(db, message_id: int) -> OutboxMessage:
    async with db.session() as session:
        return await session.get(OutboxMessage, message_id)


async def _audited(db, message_id: int) -> list[tuple[str, str | None, str | None]]:
    async with db.session() as session:
        rows = (
            await session.exec(
                select(AuditEvent).where(
                    AuditEvent.entity_type == "outbox_message", AuditEvent.entity_id == message_id
                )
            )
        ).all()
        return [(e.action, e.from_state, e.to_state) for e in rows]


async def test_a_done_row_cannot_fail_afterwards(db) -> None:
    message_id = await _queued(db)
    async with db.session() as session:
        assert await outbox_states.finish(session, message_id)
        assert not await outbox_states.finish(session, message_id)  # run twice: once done
        await session.commit()
    async with db.session() as session:
        message = await session.get(OutboxMessage, message_id)
        with pytest.raises(TransitionError, match="is done; it cannot become pending"):
            await outbox_states.fail(session, message, "late error", retry_at=utcnow())
        with pytest.raises(TransitionError):
            await outbox_states.retry(session, message, "user:ops@shop.example")
        await session.commit()
    row = await _row(db, message_id)
    assert row.status == OutboxState.DONE and row.attempts == 1 and row.last_error is None
    assert await _audited(db, message_id) == []


async def test_a_stale_failure_does_not_overwrite_a_discard(db) -> None:
    message_id = await _queued(db)
    async with db.session() as worker, db.session() as operator:
        running = await worker.get(OutboxMessage, message_id)
        seen = await operator.get(OutboxMessage, message_id)
        await outbox_states.discard(operator, seen, "user:ops@shop.example", "Bad address")
        await operator.commit()
        with pytest.raises(TransitionError, match="changed by someone else"):
            await outbox_states.fail(worker, running, "timeout", retry_at=utcnow())
        await worker.rollback()
    row = await _row(db, message_id)
    assert row.status == OutboxState.DEAD and row.last_error.startswith("Discarded by")
    assert await _audited(db, message_id) == [("discarded", "pending", "dead")]


async def test_routine_moves_are_not_audited_but_a_retry_is(db) -> None:
    message_id = await _queued(db)
    async with db.session() as session:
        assert await outbox_states.mark_sent(session, [message_id], utcnow()) == 1
        message = await session.get(OutboxMessage, message_id)
        await session.refresh(message)
        assert await outbox_states.fail(session, message, "boom", retry_at=None) == "dead"
        await outbox_states.retry(session, message, "user:ops@shop.example")
        await session.commit()
    row = await _row(db, message_id)
    assert row.status == OutboxState.PENDING and row.attempts == 1 and row.max_attempts >= 4
    assert await _audited(db, message_id) == [("retried", "dead", "pending")]
