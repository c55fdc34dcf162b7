"""A merchant changes the return policy in Chromium: types a broken rule and sees the
error at its line, fixes it, backtests, publishes, and the shopper portal answers
differently for the same order. Also the editor on a 360 px phone screen."""

from __future__ import annotations

from typing import Any

import pytest

from portal.db import Database
from portal.returns.create import Choice, ItemRequest
from portal.returns.links import LinkSigner
from tests.browser.conftest import OUTPUT, run
from tests.conftest import TEST_SECRET
from tests.factories import PASSWORD, make_user
from tests.returns.builders import DEFAULT_POLICY, EMAIL, seed_shop
from tests.returns.helpers import create

pytestmark = pytest.mark.browser

RULE = '  - name: No socks\n    when: {sku_matches: ["SOCK-*"]}\n    %s: {deny: "Socks can\'t come back."}\n'
BROKEN = DEFAULT_POLICY.replace("rules:\n", "rules:\n" + RULE % "thn", 1)
FIXED = DEFAULT_POLICY.replace("rules:\n", "rules:\n" + RULE % "then", 1)
TYPO_LINE = BROKEN.splitlines().index('    thn: {deny: "Socks can\'t come back."}') + 1


def _seed(settings: Any) -> str:
    """Order 1001 for the shopper; order 1002 already has a sock return to backtest."""

    async def go() -> str:
        db = Database(settings.resolved_database_url)
        try:
            await seed_shop(db, number="1001")
            other = await seed_shop(db, number="1002")
            done = await create(
                db,
                LinkSigner(TEST_SECRET),
                other.order_id,
                [ItemRequest(other.lines["L4"], 1, "changed_mind")],
                {other.lines["L4"]: Choice("refund")},
            )
            await make_user(db, "mia@shop.example", "merchant")
            return done.ret.rma
        finally:
            await db.dispose()

    return run(go())


def _shopper_sees(browser: Any, live_url: str) -> str:
    """What the choose-items page says about order 1001, from a fresh shopper browser."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(live_url)
        page.get_by_label("Order number").fill("1001")
        page.get_by_label("Email or postal code").fill(EMAIL)
        page.get_by_role("button", name="Find my order").click()
        page.wait_for_url(f"{live_url}/order")
        return page.locator("main").inner_text()
    finally:
        context.close()


def _log_in(page: Any, live_url: str) -> None:
    page.goto(f"{live_url}/merchant/policy")
    page.get_by_label("E-mail").fill("mia@shop.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_url}/merchant/policy")


def test_edit_see_error_fix_backtest_publish_and_the_shop_changes(
    settings, live_url, browser, page, screenshot
) -> None:
    sock_rma = _seed(settings)
    assert "Sport Socks" in _shopper_sees(browser, live_url)
    assert "Socks can't come back." not in _shopper_sees(browser, live_url)

    _log_in(page, live_url)
    editor = page.locator("#policy-text")
    assert "Northwind Apparel returns" in editor.input_value()
    editor.fill(BROKEN)
    editor.press("End")  # a key press, as typing would: the live check runs on keyup
    problems = page.locator("#validation .policy-errors")
    problems.get_by_text("unknown key `thn` — did you mean `then`?").wait_for()
    assert f"Line {TYPO_LINE}, column 5" in problems.inner_text()
    # the gutter (JavaScript) marks the line with the error
    page.locator(f".editor-gutter span.has-error >> text='{TYPO_LINE}'").wait_for()
    screenshot("1-error")

    editor.fill(FIXED)
    editor.press("End")
    page.locator("#validation").get_by_text("The policy is valid").wait_for()
    assert page.locator(".editor-gutter span.has-error").count() == 0

    # preview on the shopper's order, swapped in by HTMX (the page does not reload)
    page.evaluate("window.__same_page = true")
    page.get_by_label("Order number").fill("1001")
    page.get_by_role("button", name="Load order").click()
    page.locator("#qty-L4").fill("1")
    page.locator("#reason-L4").select_option("changed_mind")
    page.get_by_role("button", name="Preview decision").click()
    preview = page.locator("#preview-result")
    preview.get_by_text("Socks can't come back.").wait_for()
    assert "No socks" in preview.inner_text()
    assert page.evaluate("window.__same_page") is True

    page.get_by_label("Days of returns").fill("30")
    page.get_by_role("button", name="Run backtest").click()
    result = page.locator("#backtest-result")
    result.get_by_text("1 of 1 return would change").wait_for()
    assert sock_rma in result.inner_text()
    screenshot("2-backtest")

    page.get_by_label("What changed").fill("Socks are final")
    page.get_by_role("button", name="Publish as the live policy").click()
    page.wait_for_url(f"{live_url}/merchant/policy/history?published=2")
    assert "Version 2 is now live." in page.locator("main").inner_text()
    screenshot("3-published")

    after = _shopper_sees(browser, live_url)
    assert "Socks can't come back." in after


def test_policy_editor_fits_a_phone_and_works_without_javascript(
    settings, live_url, browser
) -> None:
    _seed(settings)
    context = browser.new_context(viewport={"width": 360, "height": 740}, java_script_enabled=False)
    try:
        page = context.new_page()
        _log_in(page, live_url)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, f"the editor scrolls sideways on a phone ({width}px)"
        editor = page.locator("#policy-text")
        editor.fill(BROKEN)
        page.get_by_role("button", name="Check").click()
        assert "did you mean `then`?" in page.locator("#validation").inner_text()
        assert "thn:" in page.locator("#policy-text").input_value()  # the text is kept
        page.get_by_label("Order number").fill("1001")
        editor.fill(FIXED)
        page.get_by_role("button", name="Load order").click()
        page.locator("#qty-L4").fill("1")
        page.locator("#reason-L4").select_option("changed_mind")
        page.get_by_role("button", name="Preview decision").click()
        preview = page.locator("#preview-result").inner_text()
        assert "Socks can't come back." in preview and "No socks" in preview
        OUTPUT.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(OUTPUT / "merchant-policy-phone-no-js.png"), full_page=True)
    finally:
        context.close()
