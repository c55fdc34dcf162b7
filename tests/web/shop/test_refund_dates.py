"""The shopper's status page shows the refund with the same dates finance works to."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import select

from portal.models.money import Refund
from portal.models.returns import Return
from tests.returns.builders import seed_shop
from tests.web.shop.helpers import make_return, open_order, text


async def test_status_page_follows_the_refund(client, db) -> None:
    shop = await seed_shop(db)
    tee = shop.lines["L1"]
    await open_order(client)
    rma = await make_return(
        client, {tee: {"qty": 1, "reason": "changed_mind"}}, {tee: ("refund", None)}
    )
    page = text(await client.get(f"/r/{rma}"))
    assert "within 5 days of the parcel reaching us" in page
    async with db.session() as session:
        ret = (await session.exec(select(Return).where(Return.rma == rma))).one()
        refund = Refund(
            return_id=ret.id,
            amount=1905,
            currency="USD",
            idempotency_key="r-1",
            status="approved",
            due_at=datetime(2026, 12, 4, 15, tzinfo=UTC),
        )
        session.add(refund)
        await session.commit()
    page = text(await client.get(f"/r/{rma}"))
    assert "Your refund of $19.05 goes back to your original payment by December 4, 2026" in page
    async with db.session() as session:
        refund = (await session.exec(select(Refund))).one()
        refund.status, refund.completed_at = "succeeded", datetime(2026, 12, 2, 9, tzinfo=UTC)
        session.add(refund)
        await session.commit()
    page = text(await client.get(f"/r/{rma}"))
    assert "Your refund of $19.05 was paid on December 2, 2026" in page
