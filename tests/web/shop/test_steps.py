"""Every step of the journey through plain form posts, and every bad input the issue lists."""

from __future__ import annotations

import re

from sqlmodel import func, select

from portal.models.outbox import Media
from portal.models.returns import Return
from portal.policy.versions import publish
from tests.conftest import csrf_token
from tests.returns.builders import DEFAULT_POLICY, JPEG, seed_shop
from tests.returns.helpers import counts, stock
from tests.web.shop.helpers import (
    confirm,
    confirm_fields,
    make_return,
    open_order,
    post_items,
    post_options,
    text,
)


async def _returns(db) -> int:
    return (await counts(db))["returns"]


async def test_choose_items_shows_what_can_come_back_and_why_not(client, db) -> None:
    await seed_shop(db)
    await open_order(client)
    response = await client.get("/order")
    page = text(response)
    assert "What would you like to return?" in page
    assert "Classic Tee" in page and "2 can be returned" in page and "Return by" in page
    # Final sale: the policy's own message, and no inputs for it.
    assert "Final-sale items can't be returned." in page
    # Swimwear: only some reasons, and the policy says why the others are not allowed.
    assert "For hygiene reasons" in page
    swim = page.split("Swim Trunks")[1].split("Down Parka")[0]
    assert "Arrived damaged or faulty" in swim and "Too small" not in swim
    # Reasons come from the policy; the photo requirement is announced.
    assert "Arrived damaged or faulty (photo needed)" in page
    assert '<label for="qty-' in response.text and "How many to return" in page


async def test_without_a_session_the_steps_send_you_to_find_your_order(client) -> None:
    for path in ("/order", "/order/options", "/order/review"):
        response = await client.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/", path


async def test_bad_item_choices_are_explained_and_nothing_is_kept(client, db) -> None:
    shop = await seed_shop(db)
    other = await seed_shop(db, number="1002")
    await open_order(client)
    tee, sample, socks = shop.lines["L1"], shop.lines["L3"], shop.lines["L4"]
    cases = [
        ({tee: {"qty": 3, "reason": "too_small"}}, "Only 2 of this item can still be returned"),
        ({tee: {"qty": 1, "reason": ""}}, "Choose a reason for returning Classic Tee"),
        ({tee: {"qty": 1, "reason": "bored"}}, "Choose one of the listed reasons"),
        ({tee: {"qty": "lots", "reason": "too_small"}}, "Choose how many to return"),
        ({sample: {"qty": 1, "reason": "too_small"}}, "Final-sale items can't be returned."),
        ({socks: {"qty": 1, "reason": "damaged"}}, "Please add a photo of Sport Socks"),
        ({other.lines["L1"]: {"qty": 1, "reason": "too_small"}}, "is not part of order 1001"),
        ({tee: {"qty": 0, "reason": ""}}, "Choose at least one item to return"),
    ]
    for items, message in cases:
        response = await post_items(client, items)
        assert response.status_code == 400, (message, response.status_code)
        assert message in text(response), message
        assert 'role="alert"' in response.text
    assert (await client.get("/order/options", follow_redirects=False)).status_code == 303
    assert await _returns(db) == 0


async def test_photo_upload_is_checked_stored_and_private(client, db, settings) -> None:
    shop = await seed_shop(db)
    await open_order(client)
    socks = shop.lines["L4"]
    item = {socks: {"qty": 1, "reason": "damaged"}}
    fake = await post_items(
        client, item, files={f"photo-{socks}": ("x.jpg", b"<html>", "image/jpeg")}
    )
    assert fake.status_code == 400 and "not a photo we can read" in text(fake)
    huge = JPEG + b"\x00" * (8 * 1024 * 1024)
    big = await post_items(client, item, files={f"photo-{socks}": ("big.jpg", huge, "image/jpeg")})
    assert big.status_code == 400 and "the limit is 8 MB" in text(big)
    async with db.session() as session:
        assert (await session.exec(select(func.count()).select_from(Media))).one() == 0

    good = await post_items(client, item, files={f"photo-{socks}": ("p.jpg", JPEG, "image/jpeg")})
    assert good.status_code == 303
    async with db.session() as session:
        media = (await session.exec(select(Media))).one()
    stored = settings.media_dir / media.path
    assert stored.read_bytes() == JPEG and "static" not in str(stored)
    photo = await client.get(f"/photos/{media.id}")
    assert photo.status_code == 200 and photo.content == JPEG
    assert photo.headers["content-type"] == "image/jpeg"
    assert photo.headers["x-content-type-options"] == "nosniff"
    # The page shows the photo is attached, so the shopper does not upload it again.
    assert f"/photos/{media.id}" in (await client.get("/order")).text

    await client.post("/order/leave", data={"_csrf_token": csrf_token(client)})
    assert (await client.get(f"/photos/{media.id}")).status_code == 404
    await seed_shop(db, number="1002")
    await open_order(client, "1002")
    assert (await client.get(f"/photos/{media.id}")).status_code == 404
    assert (await client.get(f"/photos/{media.id + 999}")).status_code == 404


async def test_refused_item_form_keeps_none_of_its_photos(client, db, settings) -> None:
    """Issue 18, finding 7: the whole form is checked before any photo is stored."""
    shop = await seed_shop(db)
    await open_order(client)
    tee, socks = shop.lines["L1"], shop.lines["L4"]
    photo = JPEG + b"\x00" * (1024 * 1024)
    missing = [socks + 1000 + n for n in range(5)]
    bogus = await post_items(
        client,
        {line: {"qty": 1, "reason": "damaged"} for line in missing},
        files={f"photo-{line}": (f"{line}.jpg", photo, "image/jpeg") for line in missing},
    )
    assert bogus.status_code == 400 and "is not part of order 1001" in text(bogus)
    # A real line with a good photo, refused because another line asks for too many.
    mixed = await post_items(
        client,
        {socks: {"qty": 1, "reason": "damaged"}, tee: {"qty": 3, "reason": "too_small"}},
        files={f"photo-{socks}": ("p.jpg", JPEG, "image/jpeg")},
    )
    assert mixed.status_code == 400 and "Only 2 of this item" in text(mixed)
    async with db.session() as session:
        assert (await session.exec(select(func.count()).select_from(Media))).one() == 0
    media_dir = settings.media_dir
    assert not media_dir.exists() or not [p for p in media_dir.rglob("*") if p.is_file()]
    # The same photo on a valid form is stored once and attached.
    good = await post_items(
        client,
        {socks: {"qty": 1, "reason": "damaged"}},
        files={f"photo-{socks}": ("p.jpg", JPEG, "image/jpeg")},
    )
    assert good.status_code == 303
    async with db.session() as session:
        media = (await session.exec(select(Media))).one()
    assert (media_dir / media.path).read_bytes() == JPEG
    assert f"/photos/{media.id}" in (await client.get("/order")).text


async def test_options_offer_resolutions_in_policy_order_with_amounts(client, db) -> None:
    shop = await seed_shop(db)
    await open_order(client)
    tee, scarf = shop.lines["L1"], shop.lines["L2"]
    await post_items(
        client,
        {tee: {"qty": 1, "reason": "too_small"}, scarf: {"qty": 1, "reason": "changed_mind"}},
    )
    response = await client.get("/order/options")
    page = text(response)
    tee_block = page.split("Classic Tee")[1].split("Silk Scarf")[0]
    assert tee_block.index("Exchange") < tee_block.index("Store credit") < tee_block.index("Refund")
    assert "Store credit $27.50" in tee_block and "Includes a $2.50 bonus" in tee_block
    assert "Refund $25.00" in tee_block
    # Only sizes in stock, never the one being returned; a pricier size says so.
    sizes = re.findall(rf'name="variant-{tee}" value="(\d+)"', response.text)
    assert sorted(int(v) for v in sizes) == sorted(
        shop.variants[s] for s in ("TEE-S", "TEE-L", "TEE-XL")
    )
    assert "XL $5.00 more" in tee_block and "S same price" in tee_block
    # The discounted scarf: exchange or store credit, no refund.
    scarf_block = page.split("Silk Scarf")[1]
    assert "Store credit" in scarf_block and "Refund $" not in scarf_block
    assert "return label fee comes out of your refund" in page


async def test_exchange_picker_partial_for_htmx(client, db) -> None:
    shop = await seed_shop(db)
    await open_order(client)
    tee = shop.lines["L1"]
    await post_items(client, {tee: {"qty": 1, "reason": "too_small"}})
    xl = shop.variants["TEE-XL"]
    partial = await client.get(
        f"/order/exchange/{tee}?variant-{tee}={xl}", headers={"HX-Request": "true"}
    )
    assert partial.status_code == 200
    assert "<html" not in partial.text
    assert "Classic Tee in XL" in text(partial) and "$5.00 more" in text(partial)
    assert "payment link" in text(partial)
    gone = await client.get(
        f"/order/exchange/{tee}?variant-{tee}={shop.variants['TEE-XXL']}",
        headers={"HX-Request": "true"},
    )
    assert "just sold out" in text(gone)
    plain = await client.get(f"/order/exchange/{tee}", follow_redirects=False)
    assert plain.status_code == 303 and plain.headers["location"] == "/order/options"
    other_line = await client.get("/order/exchange/999999", headers={"HX-Request": "true"})
    assert other_line.status_code == 404


async def test_bad_option_choices_are_explained(client, db) -> None:
    shop = await seed_shop(db)
    await open_order(client)
    tee, scarf = shop.lines["L1"], shop.lines["L2"]
    await post_items(
        client,
        {tee: {"qty": 1, "reason": "too_small"}, scarf: {"qty": 1, "reason": "changed_mind"}},
    )
    cases = [
        (
            {tee: ("exchange", shop.variants["TEE-XXL"]), scarf: ("store_credit", None)},
            409,
            "no longer in stock",
        ),
        (
            {tee: ("exchange", shop.variants["SCARF-GREEN"]), scarf: ("store_credit", None)},
            409,
            "no longer in stock",
        ),
        ({tee: ("exchange", 424242), scarf: ("store_credit", None)}, 409, "no longer in stock"),
        (
            {tee: ("exchange", None), scarf: ("store_credit", None)},
            400,
            "Choose which size or colour",
        ),
        (
            {tee: ("refund", None), scarf: ("refund", None)},
            400,
            "That option isn't available for Silk Scarf",
        ),
        (
            {tee: ("", None), scarf: ("store_credit", None)},
            400,
            "Choose what you'd like for Classic Tee",
        ),
    ]
    for choices, status, message in cases:
        response = await post_options(client, choices)
        assert response.status_code == status, (message, response.status_code)
        assert message in text(response)
    assert (await client.get("/order/review", follow_redirects=False)).headers[
        "location"
    ] == "/order/options"
    # Picking a size without ticking "Exchange" means the exchange (works without JavaScript).
    ok = await post_options(
        client, {tee: ("", shop.variants["TEE-L"]), scarf: ("store_credit", None)}
    )
    assert ok.status_code == 303 and ok.headers["location"] == "/order/review"


async def test_review_shows_items_totals_destination_and_how_to_send(client, db) -> None:
    shop = await seed_shop(db)
    await open_order(client)
    tee, scarf = shop.lines["L1"], shop.lines["L2"]
    await post_items(
        client,
        {tee: {"qty": 2, "reason": "too_small"}, scarf: {"qty": 1, "reason": "changed_mind"}},
    )
    await post_options(client, {tee: ("refund", None), scarf: ("store_credit", None)})
    response = await client.get("/order/review")
    page = text(response)
    assert "Review your return" in page
    assert "Refund $50.00" in page and "Store credit $60.72" in page  # $55.20 + $5.52 bonus
    assert "Return label fee" in page and "−$5.95" in page and "$44.05" in page
    assert "Northwind distribution center" in page and "400 Meadowlands Pkwy" in page
    assert "prepaid return label" in page and "within 14 days" in page
    assert 'name="submission_key"' in response.text


async def test_confirm_creates_one_return_even_when_clicked_twice(client, db) -> None:
    shop = await seed_shop(db)
    await open_order(client)
    tee = shop.lines["L1"]
    await post_items(client, {tee: {"qty": 1, "reason": "too_small"}})
    await post_options(client, {tee: ("exchange", shop.variants["TEE-L"])})
    fields = confirm_fields((await client.get("/order/review")).text)
    first = await confirm(client, fields)
    second = await confirm(client, fields)
    assert first.status_code == second.status_code == 303
    rma = first.headers["location"].split("/r/")[1].split("?")[0]
    assert second.headers["location"] == f"/r/{rma}"
    assert await _returns(db) == 1
    assert await stock(db, shop.variants["TEE-L"]) == (2, 1)
    page = text(await client.get(first.headers["location"]))
    assert "Thank you, your return is confirmed" in page and f"Return {rma}" in page


async def test_a_policy_change_before_confirming_creates_nothing(client, db) -> None:
    shop = await seed_shop(db)
    await open_order(client)
    tee = shop.lines["L1"]
    await post_items(client, {tee: {"qty": 1, "reason": "too_small"}})
    await post_options(client, {tee: ("refund", None)})
    fields = confirm_fields((await client.get("/order/review")).text)
    async with db.session() as session:
        await publish(session, DEFAULT_POLICY.replace("label_fee: 5.95", "label_fee: 3"), "m@x")
    stale = await confirm(client, fields)
    assert stale.status_code == 409
    page = text(stale)
    assert "Our return policy changed while you were choosing" in page
    assert "−$3.00" in page  # the review now shows the new policy's amounts
    assert await _returns(db) == 0
    again = await confirm(client, confirm_fields(stale.text))
    assert again.status_code == 303 and await _returns(db) == 1


async def test_a_policy_change_while_choosing_items_is_reported(client, db) -> None:
    shop = await seed_shop(db)
    await open_order(client)
    old = re.search(
        r'name="policy_version" value="(\d+)"', (await client.get("/order")).text
    ).group(1)
    async with db.session() as session:
        await publish(session, DEFAULT_POLICY.replace("label_fee: 5.95", "label_fee: 3"), "m@x")
    tee = shop.lines["L1"]
    response = await post_items(
        client, {tee: {"qty": 1, "reason": "too_small"}}, policy_version=old
    )
    assert response.status_code == 409
    assert "Our return policy changed" in text(response)


async def test_stock_running_out_before_confirming_creates_nothing(client, db) -> None:
    shop = await seed_shop(db)
    await open_order(client)
    tee, large = shop.lines["L1"], shop.variants["TEE-L"]
    await post_items(client, {tee: {"qty": 1, "reason": "too_small"}})
    await post_options(client, {tee: ("exchange", large)})
    fields = confirm_fields((await client.get("/order/review")).text)
    from portal.models.catalog import Variant

    async with db.session() as session:
        variant = await session.get(Variant, large)
        variant.stock_on_hand = 0
        session.add(variant)
        await session.commit()
    response = await confirm(client, fields)
    assert response.status_code == 409
    assert "no longer in stock" in text(response) and "What would you like instead?" in text(
        response
    )
    assert await _returns(db) == 0


async def test_status_page_timeline_documents_and_downloads(client, db, settings) -> None:
    shop = await seed_shop(db)
    await open_order(client)
    tee = shop.lines["L1"]
    rma = await make_return(
        client, {tee: {"qty": 1, "reason": "too_small"}}, {tee: ("refund", None)}
    )
    page = await client.get(f"/r/{rma}")
    body = text(page)
    for step in (
        "Requested",
        "Approved",
        "Label ready",
        "In transit",
        "Delivered",
        "Received",
        "Inspected",
        "Refunded",
    ):
        assert step in body
    assert "being prepared" in body and 'hx-trigger="every 3s"' in page.text
    assert "Refund" in body and "within 5 days of the parcel reaching us" in body
    assert (await client.get(f"/r/{rma}/label.pdf")).status_code == 404
    assert (await client.get(f"/r/{rma}/slip.pdf")).status_code == 404
    plain = await client.get(f"/r/{rma}/documents", follow_redirects=False)
    assert plain.status_code == 303

    from tests.returns.builders import write_pdf

    # The jobs store paths relative to the data folder; an absolute one under it is
    # served too.
    write_pdf(settings.data_dir / "labels" / f"{rma}.pdf")
    write_pdf(settings.data_dir / "slips" / f"{rma}.pdf")
    async with db.session() as session:
        ret = (await session.exec(select(Return).where(Return.rma == rma))).one()
        ret.label_state, ret.label_path = "ready", str(settings.data_dir / "labels" / f"{rma}.pdf")
        ret.slip_path, ret.tracking_code, ret.carrier = f"slips/{rma}.pdf", "SBX123", "Sandbox"
        session.add(ret)
        await session.commit()
    partial = await client.get(f"/r/{rma}/documents", headers={"HX-Request": "true"})
    assert "<html" not in partial.text and "Download return label (PDF)" in partial.text
    assert "hx-trigger" not in partial.text  # ready: polling stops
    assert 'id="timeline" hx-swap-oob="true"' in partial.text  # and the timeline updates
    assert "Label ready (done)" in text(partial)
    label = await client.get(f"/r/{rma}/label.pdf")
    assert label.status_code == 200 and label.content.startswith(b"%PDF")
    assert label.headers["content-type"] == "application/pdf"
    assert (await client.get(f"/r/{rma}/slip.pdf")).status_code == 200
    assert "SBX123" in (await client.get(f"/r/{rma}")).text


async def test_label_paths_outside_the_data_folder_are_never_served(client, db) -> None:
    shop = await seed_shop(db)
    await open_order(client)
    tee = shop.lines["L1"]
    rma = await make_return(
        client, {tee: {"qty": 1, "reason": "too_small"}}, {tee: ("refund", None)}
    )
    async with db.session() as session:
        ret = (await session.exec(select(Return).where(Return.rma == rma))).one()
        ret.label_state, ret.label_path, ret.slip_path = (
            "ready",
            "/etc/hostname",
            "../../../etc/hostname",
        )
        session.add(ret)
        await session.commit()
    assert (await client.get(f"/r/{rma}/label.pdf")).status_code == 404
    assert (await client.get(f"/r/{rma}/slip.pdf")).status_code == 404


async def test_cancel_while_not_shipped_and_not_after(client, db) -> None:
    shop = await seed_shop(db)
    await open_order(client)
    tee, large = shop.lines["L1"], shop.variants["TEE-L"]
    rma = await make_return(
        client, {tee: {"qty": 1, "reason": "too_small"}}, {tee: ("exchange", large)}
    )
    assert "Cancel this return" in (await client.get(f"/r/{rma}")).text
    confirm_page = await client.get(f"/r/{rma}/cancel")
    assert "Cancel return" in confirm_page.text
    done = await client.post(
        f"/r/{rma}/cancel",
        data={"_csrf_token": csrf_token(client), "reason": "found it"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    page = text(await client.get(f"/r/{rma}"))
    assert "Cancelled" in page and "Cancel this return" not in page
    assert await stock(db, large) == (2, 0)
    again = await client.post(f"/r/{rma}/cancel", data={"_csrf_token": csrf_token(client)})
    assert again.status_code == 409 and "can no longer be cancelled" in text(again)
    # The units are returnable again.
    assert "2 can be returned" in text(await client.get("/order"))


async def test_forms_without_csrf_are_refused(client, db) -> None:
    shop = await seed_shop(db)
    await open_order(client)
    response = await client.post("/order/items", data={f"qty-{shop.lines['L1']}": "1"})
    assert response.status_code == 403
