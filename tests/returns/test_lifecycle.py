"""The state machine, staff review and shopper cancellation."""

from __future__ import annotations

import pytest
from sqlmodel import select

from portal.models.outbox import OutboxMessage
from portal.models.returns import RETURN_TRANSITIONS as TRANSITIONS
from portal.models.returns import Exchange, Return
from portal.returns.create import Choice, ItemRequest, ReturnError
from portal.returns.lifecycle import approve_return, cancel_return, reject_return
from portal.returns.states import TransitionError, transition
from tests.returns.builders import seed_shop
from tests.returns.helpers import audit, create, load, outbox_keys, stock


async def _refund_return(db, signer, shop, **kw):
    tee = shop.lines["L1"]
    return (
        await create(
            db,
            signer,
            shop.order_id,
            [ItemRequest(tee, 1, "too_small")],
            {tee: Choice("refund")},
            **kw,
        )
    ).ret


def test_every_status_is_in_the_machine_and_ends_are_final() -> None:
    for end in ("completed", "rejected", "cancelled", "expired"):
        assert TRANSITIONS[end] == frozenset()
    assert "label_issued" in TRANSITIONS["approved"]
    assert "completed" not in TRANSITIONS["requested"]


async def test_transition_checks_state_stamps_time_bumps_version_and_audits(db, signer) -> None:
    shop = await seed_shop(db)
    ret = await _refund_return(db, signer, shop)
    async with db.session() as session:
        row = await session.get(Return, ret.id)
        version = row.version
        await transition(session, row, "label_issued", "carrier")
        await transition(session, row, "in_transit", "tracker", "carrier scan")
        await session.commit()
    row = await load(db, ret.id)
    assert row.status == "in_transit" and row.shipped_at is not None
    assert row.version == version + 2
    assert (await audit(db, ret.id))[-1] == ("status_changed", "label_issued", "in_transit")
    async with db.session() as session:
        row = await session.get(Return, ret.id)
        with pytest.raises(TransitionError, match="cannot become cancelled"):
            await transition(session, row, "cancelled", "shopper")


async def test_a_stale_copy_cannot_move_a_return(db, signer) -> None:
    shop = await seed_shop(db)
    ret = await _refund_return(db, signer, shop)
    async with db.session() as first, db.session() as second:
        a = await first.get(Return, ret.id)
        b = await second.get(Return, ret.id)
        await transition(first, a, "label_issued", "one")
        await first.commit()
        with pytest.raises(TransitionError):
            await transition(second, b, "label_issued", "two")
    assert [e for e in await audit(db, ret.id) if e[2] == "label_issued"] == [
        ("status_changed", "approved", "label_issued")
    ]


async def test_only_keep_item_returns_complete_straight_from_approved(db, signer) -> None:
    shop = await seed_shop(db)
    ret = await _refund_return(db, signer, shop)
    async with db.session() as session:
        row = await session.get(Return, ret.id)
        with pytest.raises(TransitionError, match="must come back"):
            await transition(session, row, "completed", "system")


async def test_approving_a_reviewed_return_queues_documents_and_tells_the_shopper(
    db, signer
) -> None:
    shop = await seed_shop(db, customer_tags=["fraud-watch"])
    ret = await _refund_return(db, signer, shop)
    async with db.session() as session:
        await approve_return(session, ret.id, "mia@shop.example", signer, note="looks fine")
    row = await load(db, ret.id)
    assert row.status == "approved" and row.label_state == "pending" and row.ship_by
    assert {f"label:{row.rma}", f"slip:{row.rma}", f"email:return_approved:{row.rma}"} <= (
        await outbox_keys(db)
    )
    assert (await audit(db, ret.id))[-1] == ("status_changed", "requested", "approved")
    async with db.session() as session:
        with pytest.raises(ReturnError, match="already approved"):
            await approve_return(session, ret.id, "mia@shop.example", signer)


async def test_rejecting_needs_a_reason_and_frees_exchange_stock(db, signer) -> None:
    shop = await seed_shop(db, customer_tags=["fraud-watch"])
    tee, large = shop.lines["L1"], shop.variants["TEE-L"]
    ret = (
        await create(
            db,
            signer,
            shop.order_id,
            [ItemRequest(tee, 1, "too_small")],
            {tee: Choice("exchange", large)},
        )
    ).ret
    assert await stock(db, large) == (2, 1)
    async with db.session() as session:
        with pytest.raises(ReturnError, match="Say why"):
            await reject_return(session, ret.id, "mia@shop.example", signer, reason="  ")
    assert (await load(db, ret.id)).status == "requested"
    async with db.session() as session:
        await reject_return(session, ret.id, "mia@shop.example", signer, reason="Worn item")
    assert (await load(db, ret.id)).status == "rejected"
    assert await stock(db, large) == (2, 0)
    async with db.session() as session:
        exchange = (await session.exec(select(Exchange))).one()
        assert exchange.status == "cancelled"
        email = (
            await session.exec(
                select(OutboxMessage).where(
                    OutboxMessage.dedupe_key == f"email:return_rejected:{ret.rma}"
                )
            )
        ).one()
        assert email.payload["context"]["reason"] == "Worn item"


async def test_cancel_frees_stock_and_voids_only_a_label_that_exists(db, signer) -> None:
    shop = await seed_shop(db)
    tee, large = shop.lines["L1"], shop.variants["TEE-L"]
    first = (
        await create(
            db,
            signer,
            shop.order_id,
            [ItemRequest(tee, 1, "too_small")],
            {tee: Choice("exchange", large)},
        )
    ).ret
    async with db.session() as session:
        await cancel_return(session, first.id, "shopper", signer)
    assert (await load(db, first.id)).status == "cancelled"
    assert await stock(db, large) == (2, 0)
    assert f"void_label:{first.rma}" not in await outbox_keys(db)

    second = await _refund_return(db, signer, shop)
    async with db.session() as session:
        row = await session.get(Return, second.id)
        row.label_state, row.label_path, row.tracking_code = "ready", "labels/x.pdf", "SBX1"
        session.add(row)
        await session.commit()
    async with db.session() as session:
        await cancel_return(session, second.id, "shopper", signer, reason="bought elsewhere")
    assert f"void_label:{second.rma}" in await outbox_keys(db)
    assert f"email:return_cancelled:{second.rma}" in await outbox_keys(db)


async def test_a_parcel_on_its_way_cannot_be_cancelled(db, signer) -> None:
    shop = await seed_shop(db)
    ret = await _refund_return(db, signer, shop)
    async with db.session() as session:
        row = await session.get(Return, ret.id)
        await transition(session, row, "label_issued", "carrier")
        await transition(session, row, "in_transit", "tracker")
        await session.commit()
    async with db.session() as session:
        with pytest.raises(ReturnError, match="can no longer be cancelled"):
            await cancel_return(session, ret.id, "shopper", signer)
    assert (await load(db, ret.id)).status == "in_transit"
