"""Approvals: four eyes, rejection with a reason, the refund cap, the manual provider."""

from __future__ import annotations

import pytest
from sqlmodel import select

from portal.models.money import Refund, RefundApproval
from portal.models.outbox import OutboxMessage
from portal.models.returns import Return
from portal.money.approvals import (
    RefundDecisionError,
    approve,
    bulk_approve,
    mark_paid,
    reject,
    retry_failed,
)
from portal.money.refunds import RefundLimitExceeded, refundable, request_refund
from tests.factories import make_user
from tests.money.fixtures import TEE_PAID, load_refund, refund_events


async def _outbox(db, job: str) -> list[OutboxMessage]:
    async with db.session() as session:
        return list(
            (await session.exec(select(OutboxMessage).where(OutboxMessage.job == job))).all()
        )


async def test_one_approval_below_the_threshold_queues_the_payment_once(db, make_refund) -> None:
    refund_id = await make_refund(4000)
    alice = await make_user(db, "alice@shop.example", "finance")
    async with db.session() as session:
        outcome = await approve(session, refund_id, alice, threshold=50000)
    assert outcome.status == "approved"
    async with db.session() as session:
        with pytest.raises(RefundDecisionError):
            await approve(session, refund_id, alice, threshold=50000)
    assert len(await _outbox(db, "issue_refund")) == 1
    assert await refund_events(db, refund_id) == ["requested", "approval_added", "approved"]


async def test_four_eyes_needs_two_different_people(db, make_refund) -> None:
    refund_id = await make_refund(4000)
    alice = await make_user(db, "alice@shop.example", "finance")
    bob = await make_user(db, "bob@shop.example", "finance")
    async with db.session() as session:
        first = await approve(session, refund_id, alice, threshold=4000)
        assert (first.status, first.approvals, first.needed) == ("pending_approval", 1, 2)
        with pytest.raises(RefundDecisionError, match="second, different person"):
            await approve(session, refund_id, alice, threshold=4000)
        assert (await load_refund(db, refund_id)).status == "pending_approval"
        assert await _outbox(db, "issue_refund") == []
        second = await approve(session, refund_id, bob, threshold=4000)
    assert second.status == "approved"
    async with db.session() as session:
        count = len((await session.exec(select(RefundApproval))).all())
    assert count == 2


async def test_reject_needs_a_reason_and_changes_nothing_without_one(db, make_refund) -> None:
    refund_id = await make_refund(4000)
    alice = await make_user(db, "alice@shop.example", "finance")
    async with db.session() as session:
        with pytest.raises(RefundDecisionError, match="why"):
            await reject(session, refund_id, alice, "   ")
    assert (await load_refund(db, refund_id)).status == "pending_approval"
    async with db.session() as session:
        await reject(session, refund_id, alice, "Item arrived worn")
        with pytest.raises(RefundDecisionError):
            await approve(session, refund_id, alice, threshold=50000)
    refund = await load_refund(db, refund_id)
    assert (refund.status, refund.rejection_reason) == ("rejected", "Item arrived worn")
    assert await _outbox(db, "issue_refund") == []


async def test_refunds_never_exceed_what_was_paid(db, make_refund) -> None:
    refund_id = await make_refund(TEE_PAID)
    async with db.session() as session:
        refund = await session.get(Refund, refund_id)
        ret = await session.get(Return, refund.return_id)
        assert await refundable(session, ret.id) == 0
        with pytest.raises(RefundLimitExceeded):
            await request_refund(
                session,
                ret,
                1,
                actor="t",
                auto_approve=True,
                due_days=5,
                purpose="exchange_difference",
            )
        with pytest.raises(RefundLimitExceeded):
            await request_refund(
                session,
                ret,
                TEE_PAID + 1,
                actor="t",
                auto_approve=True,
                due_days=5,
                purpose="exchange_difference",
            )


async def test_only_the_policy_approves_without_a_person(db, make_refund) -> None:
    manual = await make_refund(4000, number="2001")
    auto = await make_refund(4000, auto=True, number="2002")
    assert (await load_refund(db, manual)).status == "pending_approval"
    assert (await load_refund(db, auto)).status == "approved"
    jobs = await _outbox(db, "issue_refund")
    assert [m.payload["refund_id"] for m in jobs] == [auto]


async def test_manual_payments_wait_for_finance_then_complete(db, jobs, make_refund) -> None:
    refund_id = await make_refund(4000)
    alice = await make_user(db, "alice@shop.example", "finance")
    async with db.session() as session:
        await approve(session, refund_id, alice, threshold=50000)
    await jobs.drain()
    assert (await load_refund(db, refund_id)).status == "processing"
    async with db.session() as session:
        with pytest.raises(RefundDecisionError):
            await mark_paid(session, refund_id, alice, "")
        await mark_paid(session, refund_id, alice, "BANK-123")
        with pytest.raises(RefundDecisionError):
            await mark_paid(session, refund_id, alice, "BANK-456")
    refund = await load_refund(db, refund_id)
    assert (refund.status, refund.provider, refund.provider_reference) == (
        "succeeded",
        "manual",
        "BANK-123",
    )
    assert "succeeded" in await refund_events(db, refund_id)


async def test_bulk_approve_reports_each_refund(db, make_refund) -> None:
    ids = [await make_refund(4000, number=f"30{i}") for i in range(3)]
    alice = await make_user(db, "alice@shop.example", "finance")
    async with db.session() as session:
        await reject(session, ids[2], alice, "no")
        done, errors = await bulk_approve(session, [*ids, ids[0], 999], alice, threshold=50000)
    assert [o.refund_id for o in done] == ids[:2]
    assert set(errors) == {ids[2], 999}


async def test_a_failed_refund_is_retried_as_a_new_one(db, make_refund) -> None:
    refund_id = await make_refund(4000)
    alice = await make_user(db, "alice@shop.example", "finance")
    async with db.session() as session:
        refund = await session.get(Refund, refund_id)
        refund.status, refund.failure_reason = "failed", "card expired"
        session.add(refund)
        await session.commit()
        old_key = refund.idempotency_key
        retry = await retry_failed(session, refund_id, alice)
        retried = (retry.id, retry.status, retry.idempotency_key)
        with pytest.raises(RefundDecisionError):
            await retry_failed(session, retried[0], alice)
    assert retried[1] == "approved" and retried[2] != old_key


async def test_bulk_approve_keeps_four_eyes_and_the_cap(db, make_refund) -> None:
    big = await make_refund(4000, number="4001")
    small = await make_refund(1000, number="4002")
    alice = await make_user(db, "alice@shop.example", "finance")
    bob = await make_user(db, "bob@shop.example", "finance")
    async with db.session() as session:
        refund = await session.get(Refund, small)
        refund.amount = TEE_PAID + 1  # drifted above what was paid
        session.add(refund)
        await session.commit()
        done, errors = await bulk_approve(session, [big, small], alice, threshold=3000)
        assert [(o.refund_id, o.status) for o in done] == [(big, "pending_approval")]
        assert "exceeds" in errors[small]
        done, errors = await bulk_approve(session, [big], alice, threshold=3000)
        assert "second, different person" in errors[big]
        done, errors = await bulk_approve(session, [big], bob, threshold=3000)
        assert [(o.refund_id, o.status) for o in done] == [(big, "approved")]
    assert [m.payload["refund_id"] for m in await _outbox(db, "issue_refund")] == [big]
    assert await refund_events(db, big) == [
        "requested",
        "approval_added",
        "approval_added",
        "approved",
    ]
