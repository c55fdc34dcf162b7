"""Money events reach the store's webhooks: refund.succeeded and store_credit.issued."""

from __future__ import annotations

from sqlmodel import select

from portal.models.webhooks import WebhookDelivery
from portal.money.approvals import approve, mark_paid
from portal.money.credit import issue_credit
from portal.webhooks import create_endpoint
from tests.factories import make_user


async def deliveries(db) -> list[WebhookDelivery]:
    async with db.session() as session:
        return list((await session.exec(select(WebhookDelivery))).all())


async def test_paid_refund_and_issued_credit_are_announced_once(
    db, jobs, signer, make_refund
) -> None:
    async with db.session() as session:
        await create_endpoint(
            session,
            "user:merchant",
            "http://127.0.0.1:9/hook",
            ["refund.succeeded", "store_credit.issued"],
            allow_private=True,  # a store on this machine, as in development
        )
    refund_id = await make_refund(4000)
    alice = await make_user(db, "alice@shop.example", "finance")
    async with db.session() as session:
        await approve(session, refund_id, alice, threshold=50000)
    await jobs.drain()
    async with db.session() as session:
        await mark_paid(session, refund_id, alice, "WIRE-1")
    for _ in range(2):  # issuing again with the same key is the same credit, one event
        async with db.session() as session:
            await issue_credit(
                session,
                currency="USD",
                amount=2500,
                bonus=250,
                customer_id=None,
                return_id=None,
                actor="test",
                key="goodwill:1",
            )
            await session.commit()
    sent = await deliveries(db)
    assert sorted(d.event for d in sent) == ["refund.succeeded", "store_credit.issued"]
    refund_event = next(d for d in sent if d.event == "refund.succeeded")
    assert refund_event.payload["amount"] == 4000
    assert refund_event.payload["provider_reference"] == "WIRE-1"
    credit_event = next(d for d in sent if d.event == "store_credit.issued")
    assert credit_event.payload["amount"] == 2500 and credit_event.payload["bonus"] == 250
    assert len(credit_event.payload["code"]) == 19
