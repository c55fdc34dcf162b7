"""Receiving and inspection tell the store through its webhooks (return.received,
exchange.released), queued in the same transaction as the change."""

from __future__ import annotations

from sqlmodel import select

from portal.models.webhooks import WebhookDelivery
from portal.returns.settlement import load_settlement
from portal.webhooks import create_endpoint
from tests.warehouse.test_receiving import finish, grade, scan


async def test_receipt_and_released_exchange_are_sent_to_subscribed_stores(
    db, jobs, shipped, station, signer
) -> None:
    async with db.session() as session:
        await create_endpoint(
            session,
            "user:merchant",
            "http://127.0.0.1:9/hook",
            ["return.received", "exchange.released"],
            allow_private=True,  # a store on this machine, as in development
        )
        await create_endpoint(
            session,
            "user:merchant",
            "http://127.0.0.1:9/other",
            ["refund.succeeded"],
            allow_private=True,
        )  # not subscribed to these events
    parcel = await shipped({"L1": (1, "exchange", "TEE-L", "too_small")})
    await scan(db, parcel.ret.tracking_code, station, signer)
    await scan(db, parcel.ret.tracking_code, station, signer)  # a second scan: no new event
    await grade(db, parcel.lines[0].id, station, received_quantity="1")
    await finish(db, parcel.ret.id, station, signer)
    async with db.session() as session:
        deliveries = (await session.exec(select(WebhookDelivery))).all()
    assert sorted(d.event for d in deliveries) == ["exchange.released", "return.received"]
    received = next(d for d in deliveries if d.event == "return.received")
    assert received.payload["rma"] == parcel.ret.rma
    released = next(d for d in deliveries if d.event == "exchange.released")
    assert released.payload["return_line_ids"] == [parcel.lines[0].id]


async def test_return_events_carry_the_settlement_the_shopper_sees(
    db, jobs, shipped, station, signer
) -> None:
    """The store is told the same outcome as the shopper: before inspection nothing is
    settled; once the replacement is released the headline says it is on its way."""
    async with db.session() as session:
        await create_endpoint(
            session,
            "user:merchant",
            "http://127.0.0.1:9/hook",
            ["return.received", "exchange.released"],
            allow_private=True,
        )
    parcel = await shipped({"L1": (1, "exchange", "TEE-L", "too_small")})
    await scan(db, parcel.ret.tracking_code, station, signer)
    await grade(db, parcel.lines[0].id, station, received_quantity="1")
    await finish(db, parcel.ret.id, station, signer)
    async with db.session() as session:
        deliveries = {d.event: d.payload for d in (await session.exec(select(WebhookDelivery)))}
        seen = await load_settlement(session, parcel.ret.id)
    received = deliveries["return.received"]["settlement"]
    assert received["ending"] == "open"
    assert received["refund_due"] == 0 and received["store_owes"] == 0
    released = deliveries["exchange.released"]["settlement"]
    assert released["ending"] == "inspected"
    assert "on its way" in released["headline"]
    assert released["headline"] == seen.headline  # what the status page shows now
    assert deliveries["exchange.released"]["plan"]["lines"][0]["accepted"] is True
