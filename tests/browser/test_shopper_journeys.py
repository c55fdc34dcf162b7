"""The shopper's journey in Chromium: each resolution from lookup to status page, with
screenshots, an axe-core check on every page, a phone-sized screen and no JavaScript."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from portal.db import Database
from portal.models.returns import Return
from tests.browser.conftest import run
from tests.returns.builders import EMAIL, JPEG, Shop, seed_shop

pytestmark = pytest.mark.browser

AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"


def assert_accessible(page: Any, name: str) -> None:
    """No serious or critical axe-core violations (WCAG 2.1 A and AA rules)."""
    # Run through the DevTools protocol: the page's CSP (rightly) refuses an inline <script>.
    page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate(
        """async () => await axe.run(document, {
               runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa',
                                               'best-practice']}})"""
    )
    bad = [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [n["target"] for n in v["nodes"]][:5],
        }
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not bad, f"{name}: " + json.dumps(bad, indent=1)


def _seed(settings: Any, **kw: Any) -> Shop:
    async def go() -> Shop:
        db = Database(settings.resolved_database_url)
        try:
            return await seed_shop(db, **kw)
        finally:
            await db.dispose()

    return run(go())


def _label_ready(settings: Any, rma: str) -> None:
    """Run the queued side effects for real: the sandbox label, the slip and the e-mails."""
    from portal.composition import build_context
    from portal.jobs.runner import InProcessRunner

    async def go() -> None:
        db = Database(settings.resolved_database_url)
        try:
            runner = InProcessRunner(build_context(settings, db))
            await runner.drain()
            await runner.stop()
            async with db.session() as session:
                ret = (await session.exec(select(Return).where(Return.rma == rma))).one()
                assert ret.label_state == "ready", ret.label_error
        finally:
            await db.dispose()

    run(go())


def find_order(page: Any, live_url: str, screenshot: Any, contact: str = EMAIL) -> None:
    page.goto(live_url)
    assert_accessible(page, "find order")
    screenshot("1-find-order")
    page.get_by_label("Order number").fill("#1001")
    page.get_by_label("Email or postal code").fill(contact)
    page.get_by_role("button", name="Find my order").click()
    page.wait_for_url(f"{live_url}/order")
    assert page.get_by_role("heading", level=1).inner_text() == "What would you like to return?"


JOURNEYS = {
    # resolution: (line, quantity, reason, choice)
    "exchange": ("L1", "1", "Too small", "exchange"),
    "store_credit": ("L1", "2", "Changed my mind", "store_credit"),
    "refund": ("L1", "1", "Too large", "refund"),
    "keep_item": ("L4", "1", "Arrived damaged or faulty", "refund"),
}


@pytest.mark.parametrize("journey", list(JOURNEYS))
def test_shopper_journey(settings, live_url, page, screenshot, journey, tmp_path) -> None:
    shop = _seed(settings)
    ref, quantity, reason, choice = JOURNEYS[journey]
    line = shop.lines[ref]
    find_order(page, live_url, screenshot)
    assert_accessible(page, "choose items")
    screenshot("2-choose-items")

    page.locator(f"#qty-{line}").select_option(quantity)
    page.locator(f"#reason-{line}").select_option(
        label=reason + (" (photo needed)" if journey == "keep_item" else "")
    )
    if journey == "keep_item":
        photo = tmp_path / "socks.jpg"
        photo.write_bytes(JPEG)
        page.locator(f"#photo-{line}").set_input_files(str(photo))
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(f"{live_url}/order/options")
    assert_accessible(page, "options")
    if journey == "keep_item":
        assert page.get_by_text("Keep this item.").is_visible()

    if choice == "exchange":
        page.get_by_label("Exchange").check()
        page.locator(f"#picker-{line} label.chip", has_text="XL").click()
        summary = page.locator(f"#summary-{line}")
        summary.get_by_text("Classic Tee in XL").wait_for()  # HTMX swapped the summary in
        assert "$5.00 more" in summary.inner_text()
    elif choice == "store_credit":
        page.get_by_label("Store credit").check()
    else:
        page.get_by_label("Refund").check()
    assert_accessible(page, "options chosen")
    screenshot("3-options")
    page.get_by_role("button", name="Review my return").click()
    page.wait_for_url(f"{live_url}/order/review")
    assert_accessible(page, "review")
    screenshot("4-review")
    review = page.locator("main").inner_text()
    expected = {
        "exchange": "Exchange for XL",
        "store_credit": "Store credit $55.00",
        "refund": "Refund $25.00",
        "keep_item": "Keep it, no need to send",
    }[journey]
    assert expected in review

    page.get_by_role("button", name="Confirm return").click()
    page.wait_for_url(f"{live_url}/r/**")
    assert "Thank you, your return is confirmed" in page.locator("main").inner_text()
    rma = page.url.split("/r/")[1].split("?")[0]
    assert_accessible(page, "status")
    screenshot("5-status")
    status = page.locator("main").inner_text()
    if journey == "keep_item":
        assert "Label ready" not in status and "Refunded" in status
        return
    assert "being prepared" in status
    _label_ready(settings, rma)
    label = page.get_by_role("button", name="Download return label (PDF)")
    label.wait_for(timeout=10_000)  # HTMX polling picks the label up without a reload
    # The slip may land one poll later than the label; polling goes on until both are there.
    page.get_by_role("button", name="Download packing slip (PDF)").wait_for(timeout=10_000)
    assert "Label ready (done)" in " ".join(page.locator("#timeline").inner_text().split())
    screenshot("6-label-ready")
    response = page.request.get(f"{live_url}/r/{rma}/label.pdf")
    assert response.status == 200 and response.body().startswith(b"%PDF")


def test_shopper_cancels_and_sees_clear_errors(settings, live_url, page, screenshot) -> None:
    shop = _seed(settings)
    page.goto(live_url)
    page.get_by_label("Order number").fill("1001")
    page.get_by_label("Email or postal code").fill("wrong@example.com")
    page.get_by_role("button", name="Find my order").click()
    assert "couldn't find an order" in page.get_by_role("alert").inner_text()
    assert_accessible(page, "lookup failed")
    screenshot("lookup-failed")

    find_order(page, live_url, screenshot, contact="97205")
    page.get_by_role("button", name="Continue").click()
    assert "Choose at least one item" in page.get_by_role("alert").inner_text()
    assert_accessible(page, "items error")
    screenshot("items-error")

    line = shop.lines["L1"]
    page.locator(f"#qty-{line}").select_option("1")
    page.get_by_role("button", name="Continue").click()
    assert "Choose a reason for returning Classic Tee" in page.get_by_role("alert").inner_text()
    page.locator(f"#reason-{line}").select_option("too_small")
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("button", name="Review my return").click()
    assert "Choose what you'd like for Classic Tee" in page.get_by_role("alert").inner_text()
    assert_accessible(page, "options error")
    page.get_by_label("Refund").check()
    page.get_by_role("button", name="Review my return").click()
    page.get_by_role("button", name="Confirm return").click()
    page.wait_for_url(f"{live_url}/r/**")
    page.get_by_role("link", name="Cancel this return").click()
    assert_accessible(page, "cancel")
    screenshot("cancel")
    page.get_by_role("button", name="Cancel return").click()
    page.wait_for_url(f"{live_url}/r/**")
    assert "Cancelled" in page.locator("main").inner_text()
    screenshot("cancelled")

    page.goto(f"{live_url}/link/not-a-real-link")
    assert page.get_by_role("heading", level=1).inner_text() == "This link doesn't work"
    assert_accessible(page, "bad link")


def test_phone_screen_without_javascript(settings, live_url, browser, request) -> None:
    """360 px wide and JavaScript off: the exchange still works as a plain form."""
    from tests.browser.conftest import OUTPUT

    shop = _seed(settings)
    context = browser.new_context(viewport={"width": 360, "height": 740}, java_script_enabled=False)
    page = context.new_page()
    try:

        def shot(name: str) -> None:
            OUTPUT.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(OUTPUT / f"{request.node.name}-{name}.png"), full_page=True)

        def fits() -> None:
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 360, f"{page.url} is {width}px wide"

        page.goto(live_url)
        fits()
        page.get_by_label("Order number").fill("1001")
        page.get_by_label("Email or postal code").fill(EMAIL)
        page.get_by_role("button", name="Find my order").click()
        page.wait_for_url(f"{live_url}/order")
        fits()
        shot("1-items")
        line = shop.lines["L1"]
        page.locator(f"#qty-{line}").select_option("1")
        page.locator(f"#reason-{line}").select_option("too_small")
        page.get_by_role("button", name="Continue").click()
        page.wait_for_url(f"{live_url}/order/options")
        fits()
        page.locator(f"#picker-{line} label.chip", has_text="L").first.click()
        shot("2-options")
        page.get_by_role("button", name="Review my return").click()
        page.wait_for_url(f"{live_url}/order/review")
        fits()
        shot("3-review")
        assert "Exchange for L" in page.locator("main").inner_text()
        page.get_by_role("button", name="Confirm return").click()
        page.wait_for_url(f"{live_url}/r/**")
        fits()
        shot("4-status")
        assert "Reload it in a minute" in page.locator("main").inner_text()
    finally:
        context.close()
