"""A person logs in with a real browser and lands in their area; the wrong area refuses them."""

from __future__ import annotations

import pytest

from portal.db import Database
from tests.browser.conftest import run
from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.browser


def _make(settings, email: str, role: str) -> None:
    async def go() -> None:
        db = Database(settings.resolved_database_url)
        try:
            await make_user(db, email, role)
        finally:
            await db.dispose()

    run(go())


@pytest.mark.parametrize("role", ["warehouse", "merchant", "finance", "admin"])
def test_staff_log_in_and_see_their_area(settings, live_url, page, screenshot, role) -> None:
    email = f"{role}@shop.example"
    _make(settings, email, role)
    page.goto(f"{live_url}/{role}")
    assert page.url.endswith(f"/login?next=/{role}")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_url}/{role}")
    assert page.get_by_role("heading", level=1).inner_text() == role.capitalize()
    screenshot("area")
    if role != "admin":
        other = "finance" if role != "finance" else "warehouse"
        response = page.goto(f"{live_url}/{other}")
        assert response.status == 403
        assert "Not allowed" in page.content()
    page.goto(f"{live_url}/{role}")
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(f"{live_url}/login")
    page.goto(f"{live_url}/{role}")
    assert "/login" in page.url


def test_wrong_password_shows_a_plain_message(settings, live_url, page, screenshot) -> None:
    _make(settings, "w@shop.example", "warehouse")
    page.goto(f"{live_url}/login")
    page.get_by_label("E-mail").fill("w@shop.example")
    page.get_by_label("Password").fill("nope nope nope")
    page.get_by_role("button", name="Log in").click()
    alert = page.get_by_role("alert")
    assert "do not match" in alert.inner_text()
    screenshot("error")
