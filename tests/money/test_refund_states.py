"""The refund state machine: an illegal move is refused and changes nothing, two people
deciding at once cannot both win, every move leaves its audit event."""

from __future__ import annotations

import pytest
from sqlmodel import select

from portal.models.audit import AuditEvent
from portal.models.money import Refund, RefundStatus
from portal.money import refund_states
from portal.states import TransitionError
from tests.money.fixtures import load_refund


async def _events(db, refund_id: int) -> list[tuple[str, str | None, str | None, str]]:
    async with db.session() as session:
        rows = (
            await session.exec(
                select(AuditEvent)
                .where(AuditEvent.entity_type == "refund", AuditEvent.entity_id == refund_id)
                .order_by(AuditEvent.id)
            )
        ).all()
        return [(e.action, e.from_state, e.to_state, e.actor) for e in rows]


async def test_a_refund_waiting_for_approval_cannot_be_marked_paid(db, make_refund) -> None:
    refund_id = await make_refund()
    before = await _events(db, refund_id)
    async with db.session() as session:
        refund = await session.get(Refund, refund_id)
        with pytest.raises(TransitionError, match="is pending_approval; it cannot become"):
            await refund_states.mark_paid(
                session, refund, "user:fin@shop.example", reference="x", amount=1
            )
        await session.commit()
    row = await load_refund(db, refund_id)
    assert row.status == RefundStatus.PENDING_APPROVAL
    assert row.provider_reference is None and row.completed_at is None
    assert await _events(db, refund_id) == before


async def test_two_people_deciding_at_once_one_wins(db, make_refund) -> None:
    refund_id = await make_refund()
    async with db.session() as first, db.session() as second:
        a = await first.get(Refund, refund_id)
        b = await second.get(Refund, refund_id)
        await refund_states.approve(first, a, "user:ann@shop.example")
        await first.commit()
        with pytest.raises(TransitionError, match="changed by someone else"):
            await refund_states.decline(second, b, "user:bob@shop.example", "Looks worn")
        await second.rollback()
    row = await load_refund(db, refund_id)
    assert row.status == RefundStatus.APPROVED and row.rejection_reason is None
    decisions = [e for e in await _events(db, refund_id) if e[0] in ("approved", "rejected")]
    assert decisions == [("approved", "pending_approval", "approved", "user:ann@shop.example")]


async def test_paying_a_refund_walks_the_machine_and_audits_each_step(db, make_refund) -> None:
    refund_id = await make_refund()
    async with db.session() as session:
        refund = await session.get(Refund, refund_id)
        await refund_states.approve(session, refund, "user:ann@shop.example")
        await refund_states.start_processing(session, refund, "manual")
        await refund_states.mark_paid(
            session, refund, "user:fin@shop.example", reference="BANK-1", amount=refund.amount
        )
        await session.commit()
    row = await load_refund(db, refund_id)
    assert row.status == RefundStatus.SUCCEEDED and row.provider_reference == "BANK-1"
    assert row.decided_at is not None and row.completed_at is not None
    assert [e[:3] for e in await _events(db, refund_id)][-3:] == [
        ("approved", "pending_approval", "approved"),
        ("processing", "approved", "processing"),
        ("succeeded", "processing", "succeeded"),
    ]


async def test_only_a_failed_refund_is_retried_and_the_retry_is_a_new_approved_refund(
    db, make_refund
) -> None:
    refund_id = await make_refund()
    async with db.session() as session:
        refund = await session.get(Refund, refund_id)
        with pytest.raises(TransitionError, match="only failed ones"):
            await refund_states.retry(session, refund, "user:fin@shop.example", 2)
        await refund_states.approve(session, refund, "user:ann@shop.example")
        await refund_states.fail(session, refund, "system", "Card closed")
        again = await refund_states.retry(session, refund, "user:fin@shop.example", 2)
        await session.commit()
    assert (await load_refund(db, refund_id)).status == RefundStatus.FAILED
    retry = await load_refund(db, again.id)
    assert retry.status == RefundStatus.APPROVED and retry.idempotency_key.endswith("~2")
    assert (await _events(db, again.id))[0][:3] == ("retried", None, "approved")
