"""Staff review queue at /merchant/reviews, and the e-mails each step queues."""

from __future__ import annotations

from sqlmodel import select

from portal.models.outbox import OutboxMessage
from portal.models.returns import Return
from portal.notify.emails import render_email
from tests.conftest import csrf_token
from tests.factories import PASSWORD, make_user
from tests.returns.builders import EMAIL, seed_shop
from tests.web.shop.helpers import make_return, open_order, text


async def _login(client, email: str) -> None:
    await client.get("/login")
    response = await client.post(
        "/login",
        data={"email": email, "password": PASSWORD, "next": "", "_csrf_token": csrf_token(client)},
    )
    assert response.status_code in (200, 303)


async def _reviewed_return(client, db) -> str:
    shop = await seed_shop(db, customer_tags=["fraud-watch"])
    await open_order(client)
    tee = shop.lines["L1"]
    rma = await make_return(
        client,
        {tee: {"qty": 1, "reason": "too_small", "comment": "too snug"}},
        {tee: ("refund", None)},
    )
    page = text(await client.get(f"/r/{rma}"))
    assert "Waiting for review" in page and "as soon as our team approves" in page
    await client.post("/order/leave", data={"_csrf_token": csrf_token(client)})
    return rma


async def _status(db, rma: str) -> str:
    async with db.session() as session:
        return (await session.exec(select(Return.status).where(Return.rma == rma))).one()


async def test_merchants_approve_from_the_queue(client, db) -> None:
    rma = await _reviewed_return(client, db)
    await make_user(db, "mia@shop.example", "merchant")
    await _login(client, "mia@shop.example")
    queue = await client.get("/merchant/reviews")
    assert queue.status_code == 200
    assert rma in queue.text and "too snug" in queue.text and "Customer tags" in text(queue)
    ret_id = int(queue.text.split("/merchant/reviews/")[1].split("/")[0])
    done = await client.post(
        f"/merchant/reviews/{ret_id}/approve",
        data={"_csrf_token": csrf_token(client), "note": "ok"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert await _status(db, rma) == "approved"
    after = await client.get(done.headers["location"])
    assert f"Return {rma} approved" in text(after) and "Nothing to review" in text(after)
    # Staff may open the shopper's status page too.
    assert (await client.get(f"/r/{rma}")).status_code == 200
    twice = await client.post(
        f"/merchant/reviews/{ret_id}/approve", data={"_csrf_token": csrf_token(client)}
    )
    assert twice.status_code == 409 and "already approved" in text(twice)


async def test_rejecting_needs_a_reason_for_the_shopper(client, db) -> None:
    rma = await _reviewed_return(client, db)
    await make_user(db, "ada@shop.example", "admin")
    await _login(client, "ada@shop.example")
    queue = await client.get("/merchant/reviews")
    ret_id = int(queue.text.split("/merchant/reviews/")[1].split("/")[0])
    empty = await client.post(
        f"/merchant/reviews/{ret_id}/reject", data={"_csrf_token": csrf_token(client), "reason": ""}
    )
    assert empty.status_code == 400 and "Say why" in text(empty)
    assert await _status(db, rma) == "requested"
    done = await client.post(
        f"/merchant/reviews/{ret_id}/reject",
        data={"_csrf_token": csrf_token(client), "reason": "Item was worn"},
        follow_redirects=False,
    )
    assert done.status_code == 303 and await _status(db, rma) == "rejected"


async def test_the_queue_is_for_merchants_and_admins_only(client, db) -> None:
    await make_user(db, "wes@shop.example", "warehouse")
    stranger = await client.get("/merchant/reviews", follow_redirects=False)
    assert stranger.status_code == 303 and "/login" in stranger.headers["location"]
    await _login(client, "wes@shop.example")
    assert (await client.get("/merchant/reviews")).status_code == 403
    assert (
        await client.post("/merchant/reviews/1/approve", data={"_csrf_token": csrf_token(client)})
    ).status_code == 403


async def test_every_return_email_renders_with_its_signed_link(client, db) -> None:
    rma = await _reviewed_return(client, db)
    await make_user(db, "mia@shop.example", "merchant")
    await _login(client, "mia@shop.example")
    queue = await client.get("/merchant/reviews")
    ret_id = int(queue.text.split("/merchant/reviews/")[1].split("/")[0])
    await client.post(
        f"/merchant/reviews/{ret_id}/approve", data={"_csrf_token": csrf_token(client)}
    )
    await client.post(f"/r/{rma}/cancel", data={"_csrf_token": csrf_token(client)})
    async with db.session() as session:
        rows = (
            await session.exec(select(OutboxMessage).where(OutboxMessage.job == "send_email"))
        ).all()
    templates = {row.payload["template"] for row in rows}
    assert templates == {"return_created", "return_approved", "return_cancelled"}
    store = {
        "name": "Demo Store",
        "logo_url": None,
        "brand_color": "#123456",
        "support_email": "help@example.com",
    }
    for row in rows:
        payload = row.payload
        assert payload["to"] == EMAIL and payload["context"]["link"].startswith("/link/")
        email = render_email(
            payload["template"],
            payload["to"],
            {**payload["context"], "store": store, "base_url": "https://shop.example"},
        )
        assert rma in email.subject
        assert f"https://shop.example{payload['context']['link']}" in email.text
        assert f"https://shop.example{payload['context']['link']}" in email.html
    # The link in the e-mail opens the return for someone with no session at all.
    client.cookies.clear()
    link = rows[0].payload["context"]["link"]
    opened = await client.get(link)
    assert opened.status_code == 200 and f"Return {rma}" in opened.text


async def test_rejection_email_explains_why() -> None:
    email = render_email(
        "return_rejected",
        "a@b.example",
        {
            "rma": "RMA-AAAAA-BBBBB",
            "order_number": "1001",
            "name": "Sam O'Brien",
            "link": "/link/x",
            "status": "rejected",
            "items": [],
            "currency": "USD",
            "refund_total": 0,
            "store_credit_total": 0,
            "label_fee": 0,
            "require_review": True,
            "ships_back": True,
            "ship_by": "",
            "reason": "Worn item <b>& tags removed</b>",
            "store": {
                "name": "S",
                "logo_url": None,
                "brand_color": "#000000",
                "support_email": "s@x",
            },
            "base_url": "https://shop.example",
        },
    )
    # Plain text is not HTML: nothing escaped there; the HTML part escapes what it inserts.
    assert "Why: Worn item <b>& tags removed</b>" in email.text
    assert "Sam O'Brien" in email.text and "&#39;" not in email.text + email.subject
    assert "Worn item &lt;b&gt;&amp; tags removed&lt;/b&gt;" in email.html
    assert "<b>&" not in email.html


async def test_label_ready_and_expired_emails_render_from_a_real_return(client, db) -> None:
    from portal.models.orders import Order
    from portal.returns.links import LinkSigner
    from portal.returns.notify import notify_shopper
    from tests.conftest import TEST_SECRET

    shop = await seed_shop(db)
    await open_order(client)
    tee = shop.lines["L1"]
    rma = await make_return(
        client, {tee: {"qty": 1, "reason": "too_small"}}, {tee: ("refund", None)}
    )
    async with db.session() as session:
        ret = (await session.exec(select(Return).where(Return.rma == rma))).one()
        order = await session.get(Order, ret.order_id)
        events = ("label_ready", "in_transit", "delivered", "received", "completed", "expired")
        for event in events:
            await notify_shopper(session, ret, order, event, LinkSigner(TEST_SECRET))
        await session.commit()
        rows = (
            await session.exec(
                select(OutboxMessage).where(
                    OutboxMessage.dedupe_key.in_([f"email:return_{e}:{rma}" for e in events])
                )
            )
        ).all()
    store = {"name": "S", "logo_url": None, "brand_color": "#000000", "support_email": "s@x"}
    subjects = set()
    for row in rows:
        payload = row.payload
        email = render_email(
            payload["template"],
            payload["to"],
            {**payload["context"], "store": store, "base_url": "https://x"},
        )
        assert f"https://x{payload['context']['link']}" in email.text
        subjects.add(email.subject)
    assert len(rows) == len(events)
    assert {
        f"Your return label for {rma} is ready",
        f"Your return {rma} has expired",
        f"Your return {rma} is on its way",
        f"Your return {rma} is complete",
    } <= subjects
