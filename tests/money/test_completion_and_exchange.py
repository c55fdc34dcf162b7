"""After the money: a paid refund completes an inspected return and tells the shopper; the
exchange price difference is recorded (owed by the shopper) or paid back per the policy."""

from __future__ import annotations

import pytest
from sqlmodel import select

from portal.models.money import Refund, StoreCreditEntry
from portal.models.outbox import OutboxMessage
from portal.models.returns import Exchange, Return, ReturnLine
from portal.money.approvals import approve, mark_paid
from portal.money.exchange import (
    exchange_difference,
    record_exchange_payment,
    settle_difference_owed_to_shopper,
)
from portal.returns.create import Choice, ItemRequest
from portal.returns.states import transition
from tests.factories import make_user
from tests.returns.builders import seed_shop
from tests.returns.helpers import create


async def test_a_paid_refund_completes_the_inspected_return(db, jobs, signer, make_refund) -> None:
    refund_id = await make_refund(4000)
    async with db.session() as session:
        refund = await session.get(Refund, refund_id)
        ret = await session.get(Return, refund.return_id)
        for status in ("label_issued", "received", "inspected"):
            await transition(session, ret, status, "test")
        await session.commit()
    alice = await make_user(db, "alice@shop.example", "finance")
    async with db.session() as session:
        await approve(session, refund_id, alice, threshold=50000)
    await jobs.drain()
    async with db.session() as session:
        await mark_paid(session, refund_id, alice, "WIRE-1", signer=signer)
    async with db.session() as session:
        ret = await session.get(Return, ret.id)
        emails = (
            await session.exec(
                select(OutboxMessage.dedupe_key).where(OutboxMessage.job == "send_email")
            )
        ).all()
    assert ret.status == "completed"
    assert f"email:return_refunded:{ret.rma}" in emails
    assert f"email:return_completed:{ret.rma}" in emails
    await jobs.drain()  # the e-mail renders


async def _exchange_return(db, signer, sku: str):
    shop = await seed_shop(db, number="7001")
    tee = shop.lines["L1"]
    done = await create(
        db,
        signer,
        shop.order_id,
        [ItemRequest(tee, 1, "too_small")],
        {tee: Choice("exchange", shop.variants[sku])},
    )
    return done.ret


async def test_the_shopper_pays_a_higher_price_recorded_by_hand(db, signer) -> None:
    ret = await _exchange_return(db, signer, "TEE-XL")
    async with db.session() as session:
        assert await exchange_difference(session, ret.id) == 500
        exchange = (await session.exec(select(Exchange))).one()
        with pytest.raises(ValueError):
            await record_exchange_payment(session, exchange.id, " ", "user:f")
        await record_exchange_payment(session, exchange.id, "POS-77", "user:f")
        with pytest.raises(ValueError, match="already"):
            await record_exchange_payment(session, exchange.id, "POS-78", "user:f")
        assert (await session.get(Exchange, exchange.id)).payment_reference == "POS-77"


@pytest.mark.parametrize("how", ["refund", "store_credit"])
async def test_a_lower_price_is_paid_back_per_policy(db, signer, how) -> None:
    ret = await _exchange_return(db, signer, "TEE-L")
    async with db.session() as session:
        exchange = (await session.exec(select(Exchange).join(ReturnLine))).one()
        exchange.price_difference = -300  # a cheaper variant
        session.add(exchange)
        ret = await session.get(Return, ret.id)
        for _ in range(2):  # settling twice changes nothing
            await settle_difference_owed_to_shopper(
                session, ret, how=how, actor="system", auto_approve=False, due_days=5
            )
        await session.commit()
        refunds = (await session.exec(select(Refund))).all()
        credit = (await session.exec(select(StoreCreditEntry))).all()
    if how == "refund":
        assert [(r.purpose, r.amount, r.status) for r in refunds] == [
            ("exchange_difference", 300, "pending_approval")
        ]
        assert credit == []
    else:
        assert refunds == [] and [(e.kind, e.amount) for e in credit] == [("issue", 300)]
