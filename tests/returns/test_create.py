"""Creating returns: snapshots, totals per chosen resolution, stock, outbox, idempotency."""

from __future__ import annotations

import asyncio
import secrets

import pytest

from portal.models.base import utcnow
from portal.policy.versions import publish
from portal.returns.context import line_outlooks, load_order_context
from portal.returns.create import Choice, ItemRequest, ReturnError
from tests.returns.builders import DEFAULT_POLICY, seed_shop
from tests.returns.helpers import add_photo, audit, counts, create, load, outbox_keys, stock


async def test_a_refund_return_is_created_approved_with_its_snapshots(db, signer) -> None:
    shop = await seed_shop(db)
    tee = shop.lines["L1"]
    done = await create(
        db, signer, shop.order_id, [ItemRequest(tee, 2, "changed_mind")], {tee: Choice("refund")}
    )
    assert done.created
    ret = await load(db, done.ret.id)
    assert ret.status == "approved" and ret.approved_at is not None
    assert ret.policy_version_id is not None
    assert ret.request["as_of"] and ret.request["items"] == [
        {"line_id": "L1", "quantity": 2, "reason": "changed_mind"}
    ]
    assert ret.decision["lines"][0]["refund_amount"] == 5000
    # $50 paid, $5.95 label fee out of the refund, under the $150 auto-approval line.
    assert (ret.refund_total, ret.label_fee, ret.store_credit_total) == (5000 - 595, 595, 0)
    assert ret.needs_approval is False and ret.require_review is False
    assert ret.label_state == "pending" and ret.ship_by is not None
    assert ret.destination == "main"
    rma = ret.rma
    assert await outbox_keys(db) == {
        f"email:return_created:{rma}",
        f"label:{rma}",
        f"slip:{rma}",
    }
    assert await audit(db, ret.id) == [
        ("created", None, "requested"),
        ("status_changed", "requested", "approved"),
    ]


async def test_store_credit_has_no_label_fee_and_carries_the_bonus(db, signer) -> None:
    shop = await seed_shop(db)
    tee = shop.lines["L1"]
    done = await create(
        db, signer, shop.order_id, [ItemRequest(tee, 1, "too_large")], {tee: Choice("store_credit")}
    )
    ret = await load(db, done.ret.id)
    assert (ret.refund_total, ret.label_fee, ret.store_credit_total) == (0, 0, 2750)


async def test_bonus_cap_is_shared_only_among_lines_taken_as_credit(db, signer, settings) -> None:
    shop = await seed_shop(db)
    parka, tee = shop.lines["L6"], shop.lines["L1"]
    photo = await add_photo(db, settings, shop.order_id)
    items = [
        ItemRequest(parka, 1, "changed_mind", photo_media_id=photo),
        ItemRequest(tee, 2, "changed_mind"),
    ]
    # Both as credit: bonuses $32 + $5 are capped at $25 in total.
    both = await create(
        db,
        signer,
        shop.order_id,
        items,
        {parka: Choice("store_credit"), tee: Choice("store_credit")},
    )
    assert (await load(db, both.ret.id)).store_credit_total == 32000 + 5000 + 2500
    async with db.session() as session:
        from portal.returns.lifecycle import cancel_return

        await cancel_return(session, both.ret.id, "shopper", signer)
    # Only the tee as credit: its own $5 bonus, not a share of a cap the parka used up.
    photo = await add_photo(db, settings, shop.order_id)
    items[0] = ItemRequest(parka, 1, "changed_mind", photo_media_id=photo)
    mixed = await create(
        db, signer, shop.order_id, items, {parka: Choice("refund"), tee: Choice("store_credit")}
    )
    ret = await load(db, mixed.ret.id)
    assert ret.store_credit_total == 5000 + 500
    assert ret.refund_total == 32000 - 595 and ret.needs_approval  # $314.05 needs finance
    assert ret.require_review and ret.status == "requested"  # expensive pieces are reviewed


async def test_returns_needing_review_wait_without_label_or_slip(db, signer) -> None:
    shop = await seed_shop(db, customer_tags=["fraud-watch"])
    tee = shop.lines["L1"]
    done = await create(
        db, signer, shop.order_id, [ItemRequest(tee, 1, "too_small")], {tee: Choice("refund")}
    )
    ret = await load(db, done.ret.id)
    assert ret.status == "requested" and ret.require_review
    assert ret.label_state == "none"
    assert await outbox_keys(db) == {f"email:return_created:{ret.rma}"}


async def test_keep_item_returns_make_no_label(db, signer, settings) -> None:
    shop = await seed_shop(db)
    socks = shop.lines["L4"]
    photo = await add_photo(db, settings, shop.order_id)
    done = await create(
        db,
        signer,
        shop.order_id,
        [ItemRequest(socks, 1, "damaged", photo_media_id=photo)],
        {socks: Choice("refund")},
    )
    ret = await load(db, done.ret.id)
    assert ret.status == "approved" and ret.label_state == "none" and ret.ship_by is None
    assert ret.label_fee == 0  # merchant fault: no label fee
    assert ret.refund_total == 1200
    # Settled at approval: the refund's payment is queued; no label, no slip.
    keys = await outbox_keys(db)
    assert f"email:return_created:{ret.rma}" in keys
    assert not {k for k in keys if k.startswith(("label:", "slip:"))}
    assert {k.split(":")[0] for k in keys} == {"email", "issue_refund"}


async def test_a_required_photo_must_be_this_orders_own(db, signer, settings) -> None:
    shop = await seed_shop(db)
    other = await seed_shop(db, number="3001")
    socks = shop.lines["L4"]
    with pytest.raises(ReturnError) as missing:
        await create(
            db, signer, shop.order_id, [ItemRequest(socks, 1, "damaged")], {socks: Choice("refund")}
        )
    assert "add a photo" in missing.value.problems[f"line:{socks}"]
    foreign = await add_photo(db, settings, other.order_id)
    with pytest.raises(ReturnError) as stolen:
        await create(
            db,
            signer,
            shop.order_id,
            [ItemRequest(socks, 1, "damaged", photo_media_id=foreign)],
            {socks: Choice("refund")},
        )
    assert "could not be found" in stolen.value.problems[f"line:{socks}"]


async def test_exchange_reserves_stock_atomically(db, signer) -> None:
    shop = await seed_shop(db)
    tee, large = shop.lines["L1"], shop.variants["TEE-L"]
    assert await stock(db, large) == (2, 0)
    done = await create(
        db,
        signer,
        shop.order_id,
        [ItemRequest(tee, 2, "too_small")],
        {tee: Choice("exchange", large)},
    )
    assert await stock(db, large) == (2, 2)
    ret = await load(db, done.ret.id)
    assert (ret.refund_total, ret.store_credit_total, ret.label_fee) == (0, 0, 0)
    assert (await counts(db))["exchanges"] == 1


async def test_out_of_stock_exchange_creates_nothing(db, signer) -> None:
    shop = await seed_shop(db)
    tee = shop.lines["L1"]
    before = await counts(db)
    for variant in ("TEE-XXL", "TEE-M", "SCARF-GREEN"):  # no stock; the same size; another product
        with pytest.raises(ReturnError) as err:
            await create(
                db,
                signer,
                shop.order_id,
                [ItemRequest(tee, 1, "too_small")],
                {tee: Choice("exchange", shop.variants[variant])},
            )
        assert f"choice:{tee}" in err.value.problems
    assert await counts(db) == before


async def test_two_shoppers_racing_for_the_last_unit_get_one_each_at_most(db, signer) -> None:
    shop_a = await seed_shop(db, number="2001")
    shop_b = await seed_shop(db, number="2002")
    large = shop_a.variants["TEE-L"]  # two in stock; each wants two

    async def attempt(shop):
        try:
            tee = shop.lines["L1"]
            return await create(
                db,
                signer,
                shop.order_id,
                [ItemRequest(tee, 2, "too_small")],
                {tee: Choice("exchange", large)},
            )
        except ReturnError as exc:
            return exc

    results = await asyncio.gather(attempt(shop_a), attempt(shop_b))
    created = [r for r in results if not isinstance(r, ReturnError)]
    refused = [r for r in results if isinstance(r, ReturnError)]
    assert len(created) == 1 and len(refused) == 1
    assert refused[0].kind == "out_of_stock"
    assert await stock(db, large) == (2, 2)
    assert (await counts(db))["returns"] == 1


async def test_the_same_submission_creates_one_return(db, signer) -> None:
    shop = await seed_shop(db)
    tee = shop.lines["L1"]
    key = secrets.token_urlsafe(16)
    args = (db, signer, shop.order_id, [ItemRequest(tee, 1, "too_small")], {tee: Choice("refund")})
    first = await create(*args, submission_key=key)
    again = await create(*args, submission_key=key)
    assert first.created and not again.created and first.ret.id == again.ret.id
    both = await asyncio.gather(
        create(*args, submission_key=key + "x"), create(*args, submission_key=key + "x")
    )
    assert both[0].ret.id == both[1].ret.id
    assert (await counts(db))["returns"] == 2


async def test_units_in_a_return_cannot_be_returned_again(db, signer) -> None:
    shop = await seed_shop(db)
    tee = shop.lines["L1"]
    await create(
        db, signer, shop.order_id, [ItemRequest(tee, 1, "too_small")], {tee: Choice("refund")}
    )
    with pytest.raises(ReturnError) as err:
        await create(
            db, signer, shop.order_id, [ItemRequest(tee, 2, "too_small")], {tee: Choice("refund")}
        )
    assert "Only 1 of this item can still be returned" in err.value.problems[f"line:{tee}"]
    await create(
        db, signer, shop.order_id, [ItemRequest(tee, 1, "too_small")], {tee: Choice("refund")}
    )
    async with db.session() as session:
        ctx = await load_order_context(session, shop.order_id)
        outlook = next(o for o in line_outlooks(ctx) if o.line.id == tee)
    assert outlook.returnable == 0 and not outlook.can_return
    assert outlook.messages == ("This item is already in a return.",)


async def test_bad_requests_are_refused_with_a_reason_and_change_nothing(db, signer) -> None:
    shop = await seed_shop(db)
    other = await seed_shop(db, number="3001")
    tee, final_sale, scarf = shop.lines["L1"], shop.lines["L3"], shop.lines["L2"]
    before = await counts(db)
    cases = [
        ([ItemRequest(other.lines["L1"], 1, "too_small")], {}, "form", "not part of order"),
        ([ItemRequest(tee, 3, "too_small")], {tee: Choice("refund")}, f"line:{tee}", "Only 2"),
        ([ItemRequest(tee, 0, "too_small")], {}, f"line:{tee}", "at least 1"),
        ([ItemRequest(tee, 1, "bored")], {}, f"line:{tee}", "listed reasons"),
        ([ItemRequest(final_sale, 1, "too_small")], {}, f"line:{final_sale}", "Final-sale"),
        (
            [ItemRequest(scarf, 1, "too_small")],
            {scarf: Choice("refund")},
            f"choice:{scarf}",
            "isn't available",
        ),
        ([ItemRequest(tee, 1, "too_small")], {}, f"choice:{tee}", "Choose what you'd like"),
        (
            [ItemRequest(tee, 1, "too_small")],
            {tee: Choice("exchange")},
            f"choice:{tee}",
            "Choose which size",
        ),
        ([], {}, "form", "at least one item"),
    ]
    for items, choices, key, text in cases:
        with pytest.raises(ReturnError) as err:
            await create(db, signer, shop.order_id, items, choices)
        assert text in err.value.problems.get(key, ""), (key, err.value.problems)
    assert await counts(db) == before


async def test_a_changed_policy_makes_the_form_stale(db, signer) -> None:
    shop = await seed_shop(db)
    tee = shop.lines["L1"]
    async with db.session() as session:
        ctx = await load_order_context(session, shop.order_id)
        seen_version = ctx.policy.id
        await publish(session, DEFAULT_POLICY.replace("label_fee: 5.95", "label_fee: 7.95"), "m@x")
    before = await counts(db)
    with pytest.raises(ReturnError) as err:
        await create(
            db,
            signer,
            shop.order_id,
            [ItemRequest(tee, 1, "too_small")],
            {tee: Choice("refund")},
            policy_version_id=seen_version,
        )
    assert err.value.kind == "stale"
    assert await counts(db) == before
    done = await create(
        db,
        signer,
        shop.order_id,
        [ItemRequest(tee, 1, "too_small")],
        {tee: Choice("refund")},
        as_of=utcnow(),
    )
    assert (await load(db, done.ret.id)).label_fee == 795
