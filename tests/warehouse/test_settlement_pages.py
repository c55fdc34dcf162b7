"""Each ending of a return, walked through the real domain and jobs, and what the shopper's
status page, their e-mail and the finance refund page say: the same amounts and words as
the return's settlement (``portal.returns.settlement``)."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlmodel import select

from portal.models import MailMessage
from portal.models.base import utcnow
from portal.models.money import Refund
from portal.models.orders import Order
from portal.returns.lifecycle import cancel_return
from portal.returns.settlement import load_settlement, nice_date
from portal.returns.timelines import expire_unshipped
from tests.factories import make_user
from tests.money.fixtures import load_refund
from tests.returns.builders import DEFAULT_POLICY
from tests.warehouse.test_receiving import finish, grade, scan
from tests.web.shop.helpers import open_order, text
from tests.web.test_auth import login

REVIEW_REFUNDS = DEFAULT_POLICY.replace(
    "auto_approve_refunds_below: 150", "auto_approve_refunds_below: 10"
)
assert REVIEW_REFUNDS != DEFAULT_POLICY


async def status_page(client, db, ret) -> tuple[str, str]:
    """(HTML, text) of the shopper's status page, as the shopper of that order."""
    async with db.session() as session:
        order = await session.get(Order, ret.order_id)
    await open_order(client, order.number)
    page = await client.get(f"/r/{ret.rma}")
    assert page.status_code == 200, page.text
    return page.text, text(page)


def headline(html: str) -> str:
    match = re.search(r'data-settlement="headline"[^>]*><strong>(.*?)</strong>', html, re.S)
    assert match, "no settlement headline on the page"
    import html as h

    return h.unescape(match.group(1))


async def settlement_of(db, return_id):
    async with db.session() as session:
        return await load_settlement(session, return_id)


async def mail(db, template: str, return_id: int) -> MailMessage:
    async with db.session() as session:
        return (
            await session.exec(
                select(MailMessage).where(
                    MailMessage.template == template, MailMessage.return_id == return_id
                )
            )
        ).one()


async def refund_of(db, return_id: int) -> Refund:
    async with db.session() as session:
        return (await session.exec(select(Refund).where(Refund.return_id == return_id))).one()


async def as_finance(client, db) -> None:
    await make_user(db, "fin@shop.example", "finance")
    assert (await login(client, "fin@shop.example")).status_code == 303


async def test_accepted_and_refunded(client, db, jobs, shipped, station, signer) -> None:
    s = await shipped({"L1": (1, "refund")})
    await scan(db, s.ret.rma, station, signer)
    await grade(db, s.lines[0].id, station, received_quantity="1")
    await finish(db, s.ret.id, station, signer)
    await jobs.drain()  # the auto-approved refund goes to the (manual) provider
    refund = await refund_of(db, s.ret.id)
    assert (refund.amount, refund.status) == (1905, "processing")
    await as_finance(client, db)
    page = f"/finance/refunds/{refund.id}"
    before = await client.get(page)
    assert "Still refundable $5.95 after this refund" in text(before)
    paid = await client.post(
        f"{page}/paid",
        data={"reference": "WIRE-7", "_csrf_token": client.cookies.get("portal_csrf")},
        follow_redirects=True,
    )
    assert "marked paid" in paid.text
    await jobs.drain()
    settlement = await settlement_of(db, s.ret.id)
    when = nice_date((await load_refund(db, refund.id)).completed_at)
    assert settlement.headline == f"Refund of $19.05 sent on {when}."
    finance = text(await client.get(page))
    assert "Paid for these lines $25.00" in finance and "Refunded $19.05" in finance
    assert "Still refundable $5.95" in finance and "after this refund" not in finance
    assert "needs approval: True" not in finance
    assert "approved → processing" in finance and "processing → processing" not in finance
    assert settlement.headline in finance
    html, page_text = await status_page(client, db, s.ret)
    assert headline(html) == settlement.headline
    assert "Refund $19.05 (paid" in page_text and "Return label fee −$5.95" in page_text
    assert "Download return label" not in html and "Latest" not in page_text
    assert "$19.05" in (await mail(db, "return_refunded", s.ret.id)).text_body
    completed = await mail(db, "return_completed", s.ret.id)
    assert settlement.headline in completed.text_body


async def test_rejected_item_with_instant_credit_taken_back(
    client, db, jobs, shipped, station, signer
) -> None:
    s = await shipped({"L1": (1, "store_credit"), "L2": (1, "store_credit")})
    tee, scarf = s.lines
    await scan(db, s.ret.rma, station, signer)
    await grade(db, tee.id, station, received_quantity="1")
    await grade(
        db,
        scarf.id,
        station,
        received_quantity="1",
        condition="used",
        accepted="no",
        disposition="dispose",
        note="The scarf has been worn.",
    )
    await finish(db, s.ret.id, station, signer)
    await jobs.drain()
    settlement = await settlement_of(db, s.ret.id)
    assert settlement.headline == (
        "Store credit of $27.50 issued; the code is in your e-mail. "
        "We couldn't accept one of your items."
    )
    assert (settlement.credit.taken_back, settlement.credit.due) == (
        scarf.store_credit_amount,
        tee.store_credit_amount,
    )
    html, page_text = await status_page(client, db, s.ret)
    assert headline(html) == settlement.headline
    scarf_money = f"${scarf.store_credit_amount / 100:.2f}"
    assert f"store credit {scarf_money}" not in page_text  # the bug: still promised
    assert (
        "not accepted, so nothing is due for it (store credit). Why: The scarf has been worn."
        in (page_text)
    )
    assert f"Store credit taken back −{scarf_money}" in page_text
    assert "Download return label" not in html and "Latest" not in page_text
    inspected = await mail(db, "return_inspected", s.ret.id)
    assert settlement.headline in inspected.text_body
    assert f"withdrawn {scarf_money}" in inspected.text_body


async def test_refund_declined(client, db, jobs, shipped, station, signer) -> None:
    s = await shipped({"L1": (1, "refund")}, policy_text=REVIEW_REFUNDS)
    await scan(db, s.ret.rma, station, signer)
    await grade(db, s.lines[0].id, station, received_quantity="1")
    await finish(db, s.ret.id, station, signer)
    refund = await refund_of(db, s.ret.id)
    assert refund.status == "pending_approval"
    await as_finance(client, db)
    page = f"/finance/refunds/{refund.id}"
    await client.get(page)
    declined = await client.post(
        f"{page}/reject",
        data={
            "reason": "Stained lining (internal)",
            "shopper_message": "The parka came back stained, so we can't refund it.",
            "_csrf_token": client.cookies.get("portal_csrf"),
        },
        follow_redirects=True,
    )
    assert declined.status_code == 200
    await jobs.drain()
    settlement = await settlement_of(db, s.ret.id)
    expected = (
        "Your refund of $19.05 was declined: The parka came back stained, so we can't "
        "refund it. Contact us if you have questions."
    )
    assert settlement.headline == expected
    assert expected in text(await client.get(page))
    html, page_text = await status_page(client, db, s.ret)
    assert headline(html) == expected
    assert "Refund declined" in page_text and "Completed" not in page_text
    assert "Refund $19.05" not in page_text  # "What you get: Refund" was the bug
    assert "Refund Declined" in page_text and "internal" not in page_text
    email = await mail(db, "return_refund_declined", s.ret.id)
    assert "stained" in email.text_body and "internal" not in email.text_body


async def test_cancelled(client, db, jobs, shipped, signer) -> None:
    s = await shipped({"L1": (1, "refund")})
    async with db.session() as session:
        await cancel_return(session, s.ret.id, "shopper", signer)
    await jobs.drain()
    html, page_text = await status_page(client, db, s.ret)
    assert headline(html) == "Cancelled: nothing is owed."
    assert s.ret.tracking_code not in html  # the bug: tracking shown
    assert "refund $" not in page_text.lower().replace("no refund", "")
    assert "Cancelled" in page_text
    assert "is cancelled" in (await mail(db, "return_cancelled", s.ret.id)).text_body


async def test_expired(client, db, jobs, shipped, signer) -> None:
    s = await shipped({"L1": (1, "store_credit")})
    assert await expire_unshipped(db, utcnow() + timedelta(days=40), signer) == [s.ret.rma]
    await jobs.drain()
    settlement = await settlement_of(db, s.ret.id)
    assert settlement.headline == (
        "Expired: the parcel wasn't sent in time. "
        "The $27.50 of store credit issued for it was taken back."
    )
    html, _ = await status_page(client, db, s.ret)
    assert headline(html) == settlement.headline
    assert s.ret.tracking_code not in html and "Download return label" not in html
    assert "taken back the $27.50" in (await mail(db, "return_expired", s.ret.id)).text_body


async def test_exchange_released(client, db, jobs, shipped, station, signer) -> None:
    s = await shipped({"L1": (1, "exchange", "TEE-L", "too_small")})
    _, held_text = await status_page(client, db, s.ret)
    assert "held for you" in held_text
    await scan(db, s.ret.rma, station, signer)
    await grade(db, s.lines[0].id, station, received_quantity="1")
    await finish(db, s.ret.id, station, signer)
    await jobs.drain()
    html, page_text = await status_page(client, db, s.ret)
    assert headline(html) == "Your replacement (L) is on its way."
    assert "held for you" not in page_text  # the bug: still "held… ships once it reaches us"
    assert "exchange for L: on its way to you" in page_text
    assert "Download return label" not in html and "Latest" not in page_text
    inspected = await mail(db, "return_inspected", s.ret.id)
    assert "Your replacement (L) is on its way." in inspected.text_body


async def test_keep_every_item(client, db, jobs, signer, settings) -> None:
    from tests.returns.test_keep_all import keep_socks

    ret, _ = await keep_socks(db, signer, settings, "store_credit", number="7301")
    await jobs.drain()
    settlement = await settlement_of(db, ret.id)
    assert settlement.headline == "Store credit of $13.20 issued; the code is in your e-mail."
    html, page_text = await status_page(client, db, ret)
    assert headline(html) == settlement.headline
    assert "You keep your items: there is nothing to send back." in page_text
    assert "Store credit $13.20 (issued)" in page_text
    assert "Label and packing slip" not in page_text
    created = await mail(db, "return_created", ret.id)
    assert "$13.20" in created.text_body
