"""The merchant console's pages on a 360 px phone: nothing scrolls sideways (wide tables
scroll inside their own box) and axe-core finds no serious accessibility problem."""

from __future__ import annotations

from typing import Any

import pytest

from portal.db import Database
from portal.returns.create import Choice, ItemRequest
from portal.returns.links import LinkSigner
from tests.browser.conftest import OUTPUT, run, watch_csp
from tests.browser.test_shopper_journeys import assert_accessible
from tests.conftest import TEST_SECRET
from tests.factories import PASSWORD, make_user
from tests.returns.builders import DEFAULT_POLICY, seed_shop
from tests.returns.helpers import create

pytestmark = pytest.mark.browser

PAGES = [
    "/merchant",
    "/merchant/policy",
    "/merchant/policy/history",
    "/merchant/analytics",
    "/merchant/users",
    "/merchant/audit",
]


def _seed(settings: Any) -> None:
    async def go() -> None:
        db = Database(settings.resolved_database_url)
        try:
            shop = await seed_shop(db)
            await create(
                db,
                LinkSigner(TEST_SECRET),
                shop.order_id,
                [ItemRequest(shop.lines["L1"], 1, "too_small")],
                {shop.lines["L1"]: Choice("refund")},
            )
            await seed_shop(db, number="1002", policy_text=DEFAULT_POLICY + "\n# v2\n")
            await make_user(db, "mia@shop.example", "merchant")
            await make_user(db, "wes@shop.example", "warehouse")
        finally:
            await db.dispose()

    run(go())


def test_console_pages_fit_a_phone_and_pass_axe(settings, live_url, browser) -> None:
    _seed(settings)
    context = browser.new_context(viewport={"width": 360, "height": 740})
    try:
        page = context.new_page()
        refused = watch_csp(page)
        page.goto(f"{live_url}/login?next=/merchant")
        page.get_by_label("E-mail").fill("mia@shop.example")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{live_url}/merchant")
        OUTPUT.mkdir(parents=True, exist_ok=True)
        for path in PAGES:
            response = page.goto(f"{live_url}{path}")
            assert response is not None and response.status == 200, path
            width = page.evaluate("document.documentElement.scrollWidth")
            if width > 360:
                wide = page.evaluate(
                    """() => [...document.querySelectorAll('main *')]
                        .filter(e => e.getBoundingClientRect().right > 360)
                        .slice(0, 5).map(e => e.tagName + '.' + e.className + ' '
                        + Math.round(e.getBoundingClientRect().right))"""
                )
                raise AssertionError(f"{path} scrolls sideways on a phone ({width}px): {wide}")
            assert_accessible(page, path)
            name = path.strip("/").replace("/", "-")
            page.screenshot(path=str(OUTPUT / f"merchant-phone-{name}.png"), full_page=True)
        # The settings page has its own nonce'd <style> and inline colour swatches.
        response = page.goto(f"{live_url}/merchant/settings")
        assert response is not None and response.status == 200
        assert not refused, f"Content-Security-Policy violations: {refused}"
    finally:
        context.close()
