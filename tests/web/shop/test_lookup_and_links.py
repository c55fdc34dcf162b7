"""Finding an order: normalised input, one answer for every failure, rate limits in the
shared store, an order-scoped session, and signed e-mail links."""

from __future__ import annotations

import re
import statistics
import time
from datetime import timedelta

from litestar.testing import AsyncTestClient

from portal.app import create_app
from portal.returns.links import LinkSigner
from portal.web.shop.common import LOOKUP_WINDOW, lookup_retry_after
from tests.conftest import TEST_SECRET, csrf_token
from tests.returns.builders import EMAIL, seed_shop
from tests.web.shop.helpers import make_return, open_order, text


async def test_the_find_order_form_is_labelled_plainly(client) -> None:
    page = await client.get("/")
    assert page.status_code == 200
    assert '<label for="order_number">Order number</label>' in page.text
    assert '<label for="contact">Email or postal code</label>' in page.text
    assert 'name="_csrf_token"' in page.text


async def test_order_found_by_email_or_postal_code_however_typed(client, db) -> None:
    await seed_shop(db, number="AB-1001")
    for number, contact in [
        ("AB-1001", EMAIL),
        ("#ab-1001", "  SAM.Shopper@Example.com "),
        (" ab-1001 ", "97205"),
        ("# AB-1001", "972 05"),
    ]:
        response = await open_order(client, number, contact)
        assert response.status_code == 303, (number, contact, response.text)
        assert response.headers["location"] == "/order"
        page = await client.get("/order")
        assert "Order AB-1001" in text(page)
        await client.post("/order/leave", data={"_csrf_token": csrf_token(client)})


async def test_wrong_pair_and_unknown_order_get_the_same_answer(client, db) -> None:
    await seed_shop(db, number="4321")
    wrong = await open_order(client, "4321", "someone.else@example.com")
    unknown = await open_order(client, "9876", EMAIL)
    wrong_postal = await open_order(client, "4321", "10001")
    assert wrong.status_code == unknown.status_code == wrong_postal.status_code == 400
    assert "couldn't find an order with that number" in text(wrong)

    def strip(text: str, *values: str) -> str:
        for value in values:
            text = text.replace(value, "X")
        return re.sub(r'nonce="[^"]+"', 'nonce=""', text)  # the CSP nonce is per response

    assert strip(wrong.text, "4321", "someone.else@example.com") == strip(
        unknown.text, "9876", EMAIL
    )
    assert (await client.get("/order", follow_redirects=False)).status_code == 303


async def test_missing_fields_are_named(client) -> None:
    response = await open_order(client, "", "")
    assert response.status_code == 400
    assert "Enter your order number" in text(response)
    assert "Enter the e-mail address or postal code" in text(response)
    assert 'aria-invalid="true"' in response.text


async def test_wrong_pair_and_unknown_order_take_the_same_time(settings, db) -> None:
    await seed_shop(db, number="1001")
    app = create_app(settings.model_copy(update={"lookup_attempts_per_minute": 10_000}))
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        await client.get("/")
        token = csrf_token(client)

        async def timed(number: str, contact: str) -> float:
            start = time.perf_counter()
            response = await client.post(
                "/", data={"order_number": number, "contact": contact, "_csrf_token": token}
            )
            assert response.status_code == 400
            return time.perf_counter() - start

        wrong, unknown = [], []
        for i in range(40):  # interleaved, so drift hits both alike
            wrong.append(await timed("1001", f"nobody{i}@example.com"))
            unknown.append(await timed(f"{50000 + i}", f"nobody{i}@example.com"))
    a, b = statistics.median(wrong), statistics.median(unknown)
    assert abs(a - b) < max(a, b) * 0.25, (a, b)


async def test_lookups_are_limited_per_client_and_per_order_number(
    settings, db, monkeypatch
) -> None:
    await seed_shop(db, number="1001")
    host = {"value": "198.51.100.1"}
    monkeypatch.setattr("portal.web.shop.common.client_key", lambda request: host["value"])
    limited = settings.model_copy(update={"lookup_attempts_per_minute": 3})
    async with AsyncTestClient(
        app=create_app(limited), base_url="http://testserver.local"
    ) as client:
        for i in range(3):
            refused = await open_order(client, f"{7000 + i}", EMAIL)
            assert refused.status_code == 400 and "retry-after" not in refused.headers
        blocked = await open_order(client, "1001", EMAIL)  # even the right pair, for now
        assert blocked.status_code == 429
        assert "Too many attempts" in text(blocked)
        # When to come back: the seconds left in the current fixed window.
        assert 1 <= int(blocked.headers["retry-after"]) <= LOOKUP_WINDOW
        host["value"] = "198.51.100.2"  # another client may still look its order up
        assert (await open_order(client, "1001", EMAIL)).status_code == 303
    # Another replica (a second app over the same store) and fresh clients each time: the
    # per-order-number counter still stops guessing at one order.
    async with AsyncTestClient(
        app=create_app(limited), base_url="http://testserver.local"
    ) as client:
        for i in range(3):
            host["value"] = f"203.0.113.{i}"
            assert (await open_order(client, "5555", f"guess{i}@example.com")).status_code == 400
        host["value"] = "203.0.113.99"
        guess = await open_order(client, "5555", "guess@example.com")
        assert guess.status_code == 429
        assert 1 <= int(guess.headers["retry-after"]) <= LOOKUP_WINDOW
        assert (await open_order(client, "1001", EMAIL)).status_code == 303


def test_retry_after_counts_down_to_the_end_of_the_window() -> None:
    assert lookup_retry_after(now=120.0) == 60  # a window just began
    assert lookup_retry_after(now=150.5) == 30  # rounded up: never early
    assert lookup_retry_after(now=179.2) == 1
    assert lookup_retry_after(now=179.999) == 1  # at least one second
    assert lookup_retry_after(now=180.0) == 60


async def test_a_session_sees_only_its_own_order(client, db) -> None:
    mine = await seed_shop(db, number="1001")
    theirs = await seed_shop(db, number="1002")
    await open_order(client, "1002")
    tee = theirs.lines["L1"]
    their_rma = await make_return(
        client, {tee: {"qty": 1, "reason": "too_small"}}, {tee: ("refund", None)}
    )
    await client.post("/order/leave", data={"_csrf_token": csrf_token(client)})
    await open_order(client, "1001")
    page = await client.get("/order")
    assert "Order 1001" in text(page) and "Order 1002" not in page.text
    for path in (
        f"/r/{their_rma}",
        f"/r/{their_rma}/slip.pdf",
        f"/r/{their_rma}/label.pdf",
        f"/r/{their_rma}/cancel",
        "/r/RMA-00000-00000",
        "/r/not-an-rma",
    ):
        response = await client.get(path)
        assert response.status_code == 404, path
        assert "Not found" in text(response)
    cancel = await client.post(f"/r/{their_rma}/cancel", data={"_csrf_token": csrf_token(client)})
    assert cancel.status_code == 404
    assert mine.order_id != theirs.order_id


async def test_signed_link_opens_the_return(client, db) -> None:
    shop = await seed_shop(db)
    await open_order(client)
    tee = shop.lines["L1"]
    rma = await make_return(
        client, {tee: {"qty": 1, "reason": "too_small"}}, {tee: ("refund", None)}
    )
    client.cookies.clear()
    assert (await client.get(f"/r/{rma}")).status_code == 404
    path = LinkSigner(TEST_SECRET).path(shop.order_id, rma)
    opened = await client.get(path, follow_redirects=False)
    assert opened.status_code == 303 and opened.headers["location"] == f"/r/{rma}"
    assert "portal_session" in opened.headers.get("set-cookie", "")
    page = await client.get(f"/r/{rma}")
    assert page.status_code == 200 and f"Return {rma}" in text(page)


async def test_tampered_and_expired_links_give_a_clear_page_and_no_access(client, db) -> None:
    shop = await seed_shop(db)
    signer = LinkSigner(TEST_SECRET)
    good = signer.token(shop.order_id)
    body, mac = good.split(".")
    other = signer.token(shop.order_id + 1).split(".")[0]
    flipped = mac[:-1] + ("B" if mac[-1] != "B" else "C")
    for bad in (f"{other}.{mac}", f"{body}.{flipped}", "garbage"):
        page = await client.get(f"/link/{bad}", follow_redirects=False)
        assert page.status_code == 400
        assert "This link doesn't work" in text(page)
        assert (await client.get("/order", follow_redirects=False)).status_code == 303
    expired = LinkSigner(TEST_SECRET, ttl=timedelta(seconds=-1)).token(shop.order_id)
    page = await client.get(f"/link/{expired}", follow_redirects=False)
    assert page.status_code == 410 and "This link has expired" in text(page)
    assert (await client.get("/order", follow_redirects=False)).status_code == 303
