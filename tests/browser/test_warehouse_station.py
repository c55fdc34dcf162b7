"""A warehouse worker scans a parcel with a keyboard-wedge scanner (typing + Enter),
grades its two items and finishes the inspection, in a real browser."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from portal.composition import build_context
from portal.db import Database
from portal.jobs.runner import InProcessRunner
from portal.models import Return
from portal.returns.create import Choice, ItemRequest
from portal.returns.links import LinkSigner
from tests.browser.conftest import run
from tests.conftest import TEST_SECRET
from tests.factories import PASSWORD, make_user
from tests.returns.builders import seed_shop
from tests.returns.helpers import create

pytestmark = pytest.mark.browser


def _seed(settings) -> tuple[int, str, str]:
    async def go() -> tuple[int, str, str]:
        db = Database(settings.resolved_database_url)
        try:
            await make_user(db, "wendy@shop.example", "warehouse")
            shop = await seed_shop(db, number="7001")
            tee, socks = shop.lines["L1"], shop.lines["L4"]
            done = await create(
                db,
                LinkSigner(TEST_SECRET),
                shop.order_id,
                [ItemRequest(tee, 2, "changed_mind"), ItemRequest(socks, 1, "changed_mind")],
                {tee: Choice("refund"), socks: Choice("refund")},
            )
            runner = InProcessRunner(build_context(settings, db))
            await runner.drain()
            await runner.stop()
            async with db.session() as session:
                ret = await session.get(Return, done.ret.id)
                return ret.id, ret.rma, ret.tracking_code
        finally:
            await db.dispose()

    return run(go())


def _status(settings, return_id: int) -> str:
    async def go() -> str:
        db = Database(settings.resolved_database_url)
        try:
            async with db.session() as session:
                return (await session.get(Return, return_id)).status
        finally:
            await db.dispose()

    return run(go())


def test_scan_grade_two_items_and_finish(settings, live_url, page, screenshot) -> None:
    return_id, rma, tracking = _seed(settings)
    page.set_viewport_size({"width": 360, "height": 800})
    page.goto(f"{live_url}/login?next=/warehouse/%3Fstation%3Ddock-1")
    page.get_by_label("E-mail").fill("wendy@shop.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r".*/warehouse/\?station=dock-1$"))
    scan = page.locator("#scan-code")
    expect(scan).to_be_focused()
    screenshot("station")

    page.keyboard.type(tracking)  # a wedge scanner types into whatever has focus …
    page.keyboard.press("Enter")  # … and presses Enter
    banner = page.locator("#scan-result .scan-banner").first
    expect(banner).to_contain_text(f"Received {rma}")
    expect(banner).to_have_class(re.compile("tone-ok"))
    expect(scan).to_have_value("")
    expect(scan).to_be_focused()
    assert "/warehouse/scan" not in page.url  # swapped in place, no page load
    screenshot("received")

    cards = page.locator(".line-card")
    expect(cards).to_have_count(2)
    tee = cards.nth(0)
    tee.get_by_label("Received").fill("2")
    tee.get_by_label("Condition").select_option("as_new")
    tee.get_by_label("Accept", exact=True).check()
    tee.get_by_label("Disposition").select_option("restock")
    tee.get_by_role("button", name="Save grade").click()
    expect(page.locator(".line-card").nth(0)).to_contain_text("Accepted: 2 of 2 arrived")

    socks = page.locator(".line-card").nth(1)
    socks.get_by_label("Received").fill("1")
    socks.get_by_label("Condition").select_option("used")
    socks.get_by_label("Reject", exact=True).check()
    socks.get_by_label("Disposition").select_option("dispose")
    socks.get_by_role("button", name="Save grade").click()
    expect(page.locator(".line-card").nth(1)).to_contain_text("Say why it is rejected")
    socks = page.locator(".line-card").nth(1)
    socks.get_by_label(re.compile("^Note")).fill("They have clearly been worn.")
    socks.get_by_role("button", name="Save grade").click()
    expect(page.locator(".line-card").nth(1)).to_contain_text("Rejected: 1 of 1 arrived")
    screenshot("graded")

    page.get_by_role("button", name="Finish inspection").click()
    outcome = page.locator(".outcome")
    expect(outcome).to_contain_text("Inspection finished")
    expect(outcome).to_contain_text("$44.05")  # two tees ($50) less the $5.95 label fee
    screenshot("finished")
    assert _status(settings, return_id) == "inspected"

    page.keyboard.type(rma)  # the slip's barcode, scanned again: one receipt only
    page.keyboard.press("Enter")
    expect(page.locator("#scan-result .scan-banner").first).to_contain_text("Already received")
    expect(page.locator("#scan-result .scan-banner").first).to_have_class(
        re.compile("tone-attention")
    )
    screenshot("double-scan")
