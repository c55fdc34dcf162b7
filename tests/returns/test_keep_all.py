"""Returnless returns: when the shopper keeps every item, the return is settled at approval
(refund requested, store credit issued, exchange released) and completes once nothing is
left to pay. No label is bought, and the expiry job never expires such a return.

In the default policy a damaged item under $15 is kept: the socks (L4, 12.00) with reason
``damaged`` (a merchant-fault reason, so no fees; it needs a photo).
"""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from portal.db import Database
from portal.models import AuditEvent, MailMessage, StoreCreditCode, StoreCreditEntry
from portal.models.base import utcnow
from portal.models.money import Refund
from portal.models.returns import Exchange, Return
from portal.money.approvals import approve, mark_paid
from portal.returns.create import Choice, ItemRequest, ReturnError
from portal.returns.lifecycle import approve_return, cancel_return
from portal.returns.timelines import expire_unshipped
from tests.factories import make_user
from tests.returns.builders import DEFAULT_POLICY, seed_shop
from tests.returns.helpers import add_photo, audit, create, load, outbox_keys, stock

ON_RECEIPT_POLICY = DEFAULT_POLICY.replace("issue: instant", "issue: on_receipt")
assert ON_RECEIPT_POLICY != DEFAULT_POLICY
SOCKS = 1200
SOCKS_CREDIT = 1320  # 12.00 + 10% bonus
SOCKS_LEDGER = [("issue", 1200), ("bonus", 120)]  # the bonus is its own ledger entry


async def keep_socks(
    db, signer, settings, resolution: str, *, number: str = "1001", **shop_kw
) -> tuple[Return, dict[str, int]]:
    shop = await seed_shop(db, number=number, **shop_kw)
    socks = shop.lines["L4"]
    photo = await add_photo(db, settings, shop.order_id)
    variant = shop.variants["SOCK-M"] if resolution == "exchange" else None
    done = await create(
        db,
        signer,
        shop.order_id,
        [ItemRequest(socks, 1, "damaged", photo_media_id=photo)],
        {socks: Choice(resolution, variant)},
    )
    return await load(db, done.ret.id), shop.variants


async def refunds_of(db: Database, return_id: int) -> list[Refund]:
    async with db.session() as session:
        return list((await session.exec(select(Refund).where(Refund.return_id == return_id))).all())


async def credit_entries(db: Database, return_id: int) -> list[tuple[str, int]]:
    async with db.session() as session:
        rows = (
            await session.exec(
                select(StoreCreditEntry)
                .where(
                    StoreCreditEntry.code_id.in_(  # type: ignore[attr-defined]
                        select(StoreCreditEntry.code_id).where(
                            StoreCreditEntry.return_id == return_id
                        )
                    )
                )
                .order_by(StoreCreditEntry.id)  # type: ignore[arg-type]
            )
        ).all()
    return [(e.kind, e.amount) for e in rows]


async def mail(db: Database, template: str, return_id: int) -> MailMessage:
    async with db.session() as session:
        return (
            await session.exec(
                select(MailMessage).where(
                    MailMessage.template == template, MailMessage.return_id == return_id
                )
            )
        ).one()


async def pay_manually(db: Database, refund_id: int, signer) -> None:
    finance = await make_user(db, "fin@shop.example", "finance")
    async with db.session() as session:
        await mark_paid(session, refund_id, finance, "WIRE-7")


async def test_keep_all_refund_is_requested_at_approval_and_completes_when_paid(
    db, signer, settings, jobs
) -> None:
    ret, _ = await keep_socks(db, signer, settings, "refund")
    assert ret.status == "approved" and ret.label_state == "none" and ret.ship_by is None
    [refund] = await refunds_of(db, ret.id)
    assert (refund.amount, refund.status, refund.auto_approved) == (SOCKS, "approved", True)
    keys = await outbox_keys(db)
    assert f"issue_refund:{refund.id}" in keys
    assert f"label:{ret.rma}" not in keys and f"slip:{ret.rma}" not in keys
    await jobs.drain()  # the manual provider: finance pays it and records the reference
    assert (await load(db, ret.id)).status == "approved"  # not completed before it is paid
    await pay_manually(db, refund.id, signer)
    done = await load(db, ret.id)
    assert done.status == "completed" and done.completed_at is not None
    assert done.label_state == "none" and done.tracking_code is None
    assert [(a, f, t) for a, f, t in await audit(db, ret.id) if a == "status_changed"] == [
        ("status_changed", "requested", "approved"),
        ("status_changed", "approved", "completed"),
    ]
    await jobs.drain()
    created = await mail(db, "return_created", ret.id)
    assert "nothing to send back" in created.text_body and "(keep it)" in created.text_body
    assert "label" not in created.text_body
    assert "Refund: $12.00" in created.text_body
    await mail(db, "return_completed", ret.id)


async def test_keep_all_instant_store_credit_is_issued_once_and_completes(
    db, signer, settings, jobs
) -> None:
    ret, _ = await keep_socks(db, signer, settings, "store_credit")
    assert ret.status == "completed" and ret.completed_at is not None
    assert await credit_entries(db, ret.id) == SOCKS_LEDGER
    assert await refunds_of(db, ret.id) == []
    assert f"label:{ret.rma}" not in await outbox_keys(db)
    assert [t for a, _, t in await audit(db, ret.id) if a == "status_changed"] == [
        "approved",
        "completed",
    ]
    await jobs.drain()
    async with db.session() as session:
        code = (await session.exec(select(StoreCreditCode))).one()
    assert code.code in (await mail(db, "return_created", ret.id)).text_body


async def test_keep_all_on_receipt_store_credit_is_issued_at_approval(
    db, signer, settings, jobs
) -> None:
    ret, _ = await keep_socks(db, signer, settings, "store_credit", policy_text=ON_RECEIPT_POLICY)
    assert ret.status == "completed"
    assert await credit_entries(db, ret.id) == SOCKS_LEDGER
    await jobs.drain()
    async with db.session() as session:
        code = (await session.exec(select(StoreCreditCode))).one()
    assert code.code in (await mail(db, "return_created", ret.id)).text_body


KEEP_TEES_POLICY = (
    DEFAULT_POLICY.rstrip("\n")
    + "\n  - {name: Keep tees, when: {tags_any: [cotton]}, then: {keep_item: true}}\n"
)


async def keep_tees(
    db, signer, resolution: str, sku: str | None = None, quantity: int = 2
) -> tuple[Return, dict[str, int]]:
    shop = await seed_shop(db, policy_text=KEEP_TEES_POLICY)
    tee = shop.lines["L1"]
    choice = Choice(resolution, shop.variants[sku] if sku else None)
    done = await create(
        db, signer, shop.order_id, [ItemRequest(tee, quantity, "changed_mind")], {tee: choice}
    )
    return await load(db, done.ret.id), shop.variants


async def test_keep_all_refund_has_no_label_fee(db, signer) -> None:
    ret, _ = await keep_tees(db, signer, "refund")
    assert ret.status == "approved" and ret.label_fee == 0
    [refund] = await refunds_of(db, ret.id)
    assert (refund.amount, refund.status) == (5000, "approved")  # two tees, in full


async def test_keep_all_exchange_is_released_and_completes(db, signer) -> None:
    ret, variants = await keep_tees(db, signer, "exchange", "TEE-L", quantity=1)
    assert ret.status == "completed"
    async with db.session() as session:
        exchange = (await session.exec(select(Exchange))).one()
    assert (exchange.status, exchange.quantity) == ("released", 1)
    assert await stock(db, variants["TEE-L"]) == (2, 1)  # held for the replacement
    assert await refunds_of(db, ret.id) == []
    keys = await outbox_keys(db)
    assert f"label:{ret.rma}" not in keys


async def test_reviewed_keep_all_is_settled_when_a_person_approves(
    db, signer, settings, jobs
) -> None:
    ret, _ = await keep_socks(db, signer, settings, "refund", customer_tags=["fraud-watch"])
    assert ret.status == "requested"
    assert await refunds_of(db, ret.id) == []
    async with db.session() as session:
        await approve_return(session, ret.id, "user:mia@shop.example", signer)
    [refund] = await refunds_of(db, ret.id)
    # Under review: the refund waits for finance, as it would after an inspection.
    assert (refund.amount, refund.status) == (SOCKS, "pending_approval")
    assert (await load(db, ret.id)).status == "approved"
    alice = await make_user(db, "alice@shop.example", "finance")
    async with db.session() as session:
        await approve(session, refund.id, alice, threshold=50000)
    await jobs.drain()
    async with db.session() as session:
        await mark_paid(session, refund.id, alice, "WIRE-9")
    assert (await load(db, ret.id)).status == "completed"


async def test_the_shopper_cannot_cancel_a_settled_keep_all_return(db, signer, settings) -> None:
    ret, _ = await keep_socks(db, signer, settings, "refund")
    async with db.session() as session:
        try:
            await cancel_return(session, ret.id, "shopper", signer)
        except ReturnError as exc:
            assert exc.kind == "conflict"
        else:
            raise AssertionError("a settled keep-all return was cancelled")
    assert (await load(db, ret.id)).status == "approved"
    [refund] = await refunds_of(db, ret.id)
    assert refund.status == "approved"


async def test_expiry_leaves_keep_all_returns_alone(db, signer, settings, jobs) -> None:
    waiting, _ = await keep_socks(db, signer, settings, "refund")  # refund not paid yet
    expired = await expire_unshipped(db, utcnow() + timedelta(days=40), signer)
    assert expired == []
    assert (await load(db, waiting.id)).status == "approved"
    [refund] = await refunds_of(db, waiting.id)
    assert refund.status == "approved"


async def test_mixed_return_still_ships_its_other_item(db, signer, settings, jobs) -> None:
    shop = await seed_shop(db)
    socks, tee = shop.lines["L4"], shop.lines["L1"]
    photo = await add_photo(db, settings, shop.order_id)
    done = await create(
        db,
        signer,
        shop.order_id,
        [
            ItemRequest(socks, 1, "damaged", photo_media_id=photo),
            ItemRequest(tee, 1, "changed_mind"),
        ],
        {socks: Choice("refund"), tee: Choice("refund")},
    )
    ret = await load(db, done.ret.id)
    assert ret.status == "approved" and ret.label_state == "pending" and ret.ship_by
    assert await refunds_of(db, ret.id) == []  # paid after the inspection, as before
    assert f"label:{ret.rma}" in await outbox_keys(db)
    await jobs.drain()
    assert (await load(db, ret.id)).status == "label_issued"
    expired = await expire_unshipped(db, utcnow() + timedelta(days=40), signer)
    assert expired == [ret.rma]


async def test_keep_all_audit_trail_names_the_settlement(db, signer, settings) -> None:
    ret, _ = await keep_socks(db, signer, settings, "store_credit", policy_text=ON_RECEIPT_POLICY)
    async with db.session() as session:
        events = (
            await session.exec(
                select(AuditEvent).where(
                    AuditEvent.entity_type == "return",
                    AuditEvent.entity_id == ret.id,
                    AuditEvent.to_state == "completed",
                )
            )
        ).all()
    [event] = events
    assert event.data["store_credit"] == SOCKS_CREDIT and event.data["refund"] == 0


async def test_status_page_says_keep_it_and_offers_no_cancel(client, db, signer, settings) -> None:
    from tests.web.shop.helpers import text

    ret, _ = await keep_socks(db, signer, settings, "refund")
    async with db.session() as session:
        order_id = (await session.get(Return, ret.id)).order_id
    await client.get(signer.path(order_id, ret.rma), follow_redirects=False)
    page = await client.get(f"/r/{ret.rma}")
    assert page.status_code == 200
    body = text(page)
    assert "You keep your items: there is nothing to send back." in body
    assert "Your refund of $12.00 goes back to your original payment" in body
    assert "Cancel this return" not in body and "label" not in body.lower()
    cancel = await client.get(f"/r/{ret.rma}/cancel")
    assert "This return can no longer be cancelled." in text(cancel)
