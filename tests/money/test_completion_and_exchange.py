"""After the money: a paid refund completes an inspected return and tells the shopper."""

from __future__ import annotations

from sqlmodel import select

from portal.models.money import Refund
from portal.models.outbox import OutboxMessage
from portal.models.returns import Return
from portal.money.approvals import approve, mark_paid
from portal.returns.states import transition
from tests.factories import make_user


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
        await mark_paid(session, refund_id, alice, "WIRE-1")
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
