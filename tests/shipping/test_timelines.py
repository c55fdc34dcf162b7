"""Scheduled timelines at the right local day boundaries (a fixed clock, New York policy)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import select

from portal.jobs.schedule import tick
from portal.models import MailMessage, Refund, Return, StoreCreditCode, StoreCreditEntry, Variant
from portal.returns.create import Choice, ItemRequest
from portal.returns.timelines import local_day_end, local_day_start
from tests.returns.builders import seed_shop
from tests.returns.helpers import create

NEW_YORK = ZoneInfo("America/New_York")


def test_local_days_follow_the_policy_timezone_across_dst() -> None:
    # Approved 23:30 New York time on 31 Oct (03:30 UTC on 1 Nov); DST ends on 1 Nov 2026.
    approved = datetime(2026, 11, 1, 3, 30, tzinfo=UTC)
    assert local_day_start(approved, 7, NEW_YORK) == datetime(2026, 11, 7, 5, 0, tzinfo=UTC)
    assert local_day_end(approved, 14, NEW_YORK) == datetime(2026, 11, 15, 5, 0, tzinfo=UTC)


async def _approved_at(db, return_id: int, when: datetime) -> None:
    async with db.session() as session:
        ret = await session.get(Return, return_id)
        ret.approved_at = when
        session.add(ret)
        await session.commit()


async def _mails(db, template: str) -> int:
    async with db.session() as session:
        rows = (
            await session.exec(select(MailMessage).where(MailMessage.template == template))
        ).all()
        return len(rows)


async def _status(db, return_id: int) -> str:
    async with db.session() as session:
        return (await session.get(Return, return_id)).status


async def at(jobs, moment: datetime) -> None:
    jobs.ctx.now = lambda: moment
    await tick(jobs.ctx)
    await jobs.drain()


async def test_reminder_on_the_seventh_local_day_once(db, jobs, approved_return) -> None:
    ret = await approved_return()
    await jobs.drain()  # label issued
    # Future dates: the outbox rows the ticks queue must be due at the test's clock.
    approved = datetime(2027, 1, 10, 22, 0, tzinfo=UTC)  # 17:00 in New York, 10 Jan
    await _approved_at(db, ret.id, approved)
    await at(jobs, datetime(2027, 1, 17, 4, 59, tzinfo=UTC))  # 23:59 on 16 Jan in New York
    assert await _mails(db, "return_reminder") == 0
    await at(jobs, datetime(2027, 1, 17, 5, 0, tzinfo=UTC))  # midnight, 17 Jan New York
    await at(jobs, datetime(2027, 1, 17, 9, 0, tzinfo=UTC))  # a later tick
    assert await _mails(db, "return_reminder") == 1


async def test_unshipped_return_expires_after_its_last_local_day(db, jobs, signer) -> None:
    shop = await seed_shop(db)
    tee = shop.lines["L1"]
    jeans_m = shop.variants["TEE-L"]  # the shopper wants the next size up
    done = await create(
        db,
        signer,
        shop.order_id,
        [ItemRequest(tee, 1, "too_small")],
        {tee: Choice("exchange", jeans_m)},
    )
    await jobs.drain()
    async with db.session() as session:
        reserved = (await session.get(Variant, jeans_m)).stock_reserved
    assert reserved == 1
    approved = datetime(2027, 1, 1, 15, 0, tzinfo=UTC)  # 10:00 on 1 Jan in New York
    await _approved_at(db, done.ret.id, approved)
    last_moment = datetime(2027, 1, 16, 4, 59, tzinfo=UTC)  # 23:59 on 15 Jan, New York
    await at(jobs, last_moment)
    assert await _status(db, done.ret.id) == "label_issued"
    await at(jobs, last_moment + timedelta(minutes=1))
    assert await _status(db, done.ret.id) == "expired"
    async with db.session() as session:
        variant = await session.get(Variant, jeans_m)
        ret = await session.get(Return, done.ret.id)
    assert variant.stock_reserved == 0  # the exchange stock is free again
    assert ret.label_state == "voided"  # the unused label was refunded
    assert await _mails(db, "return_expired") == 1
    await at(jobs, last_moment + timedelta(days=1))
    assert await _mails(db, "return_expired") == 1


async def test_overdue_refunds_are_escalated_once(db, jobs, approved_return) -> None:
    ret = await approved_return()
    due = datetime(2026, 11, 20, 12, tzinfo=UTC)
    async with db.session() as session:
        session.add(
            Refund(
                return_id=ret.id, amount=4405, currency="USD", idempotency_key="rf-1", due_at=due
            )
        )
        await session.commit()
    await at(jobs, due - timedelta(minutes=1))
    await at(jobs, due + timedelta(minutes=1))
    await at(jobs, due + timedelta(hours=1))
    async with db.session() as session:
        refund = (await session.exec(select(Refund))).one()
    assert refund.escalated_at == due + timedelta(minutes=1)


async def test_store_credit_expires_once_to_zero(db, jobs) -> None:
    expires = datetime(2026, 12, 1, tzinfo=UTC)
    async with db.session() as session:
        code = StoreCreditCode(code="ABCD-2345-EFGH", currency="USD", expires_at=expires)
        session.add(code)
        await session.flush()
        session.add(StoreCreditEntry(code_id=code.id, kind="issue", amount=5000))
        session.add(StoreCreditEntry(code_id=code.id, kind="redeem", amount=-1200))
        await session.commit()
    await at(jobs, expires - timedelta(seconds=1))
    await at(jobs, expires)
    await at(jobs, expires + timedelta(days=1))
    async with db.session() as session:
        entries = (
            await session.exec(select(StoreCreditEntry).where(StoreCreditEntry.code_id == code.id))
        ).all()
    assert [(e.kind, e.amount) for e in entries] == [
        ("issue", 5000),
        ("redeem", -1200),
        ("expire", -3800),
    ]
