"""Browser security headers on every page type (issue 18, finding 1)."""

from __future__ import annotations

import re
from typing import Any

from litestar.testing import AsyncTestClient

from portal.app import create_app
from portal.returns.links import LinkSigner
from tests.conftest import TEST_SECRET
from tests.returns.builders import seed_shop
from tests.web.shop.helpers import make_return, open_order
from tests.web.test_bad_input import login


def assert_page_headers(response: Any, *, referrer: str = "strict-origin-when-cross-origin") -> str:
    """The headers every HTML page carries; returns the CSP."""
    headers = response.headers
    assert headers["content-type"].startswith("text/html"), response.request.url
    csp = headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"  # no inline script, no eval, no CDN
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert directives["base-uri"] == "'self'"
    assert directives["form-action"] == "'self'"
    assert "'unsafe-inline'" not in directives["style-src-elem"]
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == referrer
    assert headers["cache-control"] == "no-store" or "no-store" in headers["cache-control"]
    return csp


def style_nonces(html: str) -> set[str]:
    return set(re.findall(r'<style nonce="([^"]+)"', html))


async def test_every_page_type_carries_the_security_headers(client, db) -> None:
    shop = await seed_shop(db)
    landing = await client.get("/")
    csp = assert_page_headers(landing)
    # The page's one <style> block carries this response's nonce; the next page another.
    (nonce,) = style_nonces(landing.text)
    assert f"'nonce-{nonce}'" in csp
    again = await client.get("/")
    assert style_nonces(again.text) != {nonce}
    assert "strict-transport-security" not in landing.headers  # http base URL

    assert (await open_order(client)).status_code == 303
    assert_page_headers(await client.get("/order"))  # the shopper's order page
    tee = shop.lines["L1"]
    rma = await make_return(
        client, {tee: {"qty": 1, "reason": "too_small"}}, {tee: ("refund", None)}
    )
    status = await client.get(f"/r/{rma}")
    assert status.status_code == 200
    assert_page_headers(status)  # the shopper's return status page

    # Pages reached through a signed link (its token is in the path) send no referrer.
    client.cookies.clear()
    opened = await client.get(
        LinkSigner(TEST_SECRET).path(shop.order_id, rma), follow_redirects=False
    )
    assert opened.status_code == 303
    assert opened.headers["referrer-policy"] == "no-referrer"
    assert opened.headers["cache-control"] == "no-store"
    bad = await client.get("/link/garbage")
    assert bad.status_code == 400
    assert_page_headers(bad, referrer="no-referrer")

    missing = await client.get("/no-such-page")  # the error page
    assert missing.status_code == 404
    assert_page_headers(missing)

    await login(client, db, "admin", "merchant", "warehouse", "finance")
    for path in ("/warehouse/", "/merchant/", "/finance/", "/admin/", "/merchant/mailbox/"):
        page = await client.get(path)
        assert page.status_code == 200, path
        assert_page_headers(page)


async def test_json_and_static_responses(client) -> None:
    health = await client.get("/healthz")
    assert health.headers["x-content-type-options"] == "nosniff"
    assert health.headers["cache-control"] == "no-store"
    assert "content-security-policy" not in health.headers  # not a document
    api = await client.post("/api/v1/orders", json={})  # no token
    assert api.status_code == 401 and api.headers["content-type"].startswith("application/json")
    assert api.headers["x-content-type-options"] == "nosniff"
    assert api.headers["cache-control"] == "no-store"
    css = await client.get("/static/css/portal.css")
    assert css.status_code == 200
    assert css.headers["x-content-type-options"] == "nosniff"
    assert "no-store" not in css.headers.get("cache-control", "")  # public assets may cache


async def test_https_base_url_adds_hsts(settings) -> None:
    secure = settings.model_copy(update={"base_url": "https://returns.example"})
    async with AsyncTestClient(app=create_app(secure), base_url="https://returns.example") as c:
        page = await c.get("/")
    assert page.headers["strict-transport-security"].startswith("max-age=31536000")
    assert_page_headers(page)
