"""The merchant's webhook pages: add (secret shown once), log, resend, disable, rotate, guard."""

from __future__ import annotations

import re

from sqlmodel import func, select

from portal.models.audit import AuditEvent
from portal.models.webhooks import WebhookDelivery, WebhookEndpoint
from portal.webhooks import emit
from tests.conftest import submit_form
from tests.merchant.helpers import login, post

PAGE = "/merchant/webhooks"


def _secret(html: str) -> str:
    found = re.search(r'id="signing-secret">(whsec_[^<]+)</code>', html)
    assert found, "no signing secret on the page"
    return found.group(1)


async def _add(client, url: str, events: list[str]):
    return await submit_form(
        client, PAGE, PAGE, {"url": url, "description": "Shop", "events": events}
    )


async def _endpoints(db) -> list[WebhookEndpoint]:
    async with db.session() as session:
        return list((await session.exec(select(WebhookEndpoint))).all())


async def test_add_an_endpoint_shows_its_secret_once(client, db) -> None:
    await login(client, db)
    assert "/merchant/webhooks" in (await client.get("/merchant")).text
    empty = await client.get(PAGE)
    assert empty.status_code == 200 and "No endpoints yet" in empty.text
    added = await _add(
        client, "https://store.example/hooks", ["return.created", "refund.succeeded"]
    )
    assert added.status_code == 200, added.text
    [endpoint] = await _endpoints(db)
    assert _secret(added.text) == endpoint.secret
    assert endpoint.events == ["return.created", "refund.succeeded"]
    assert endpoint.created_by == "mia@shop.example" and endpoint.description == "Shop"
    later = await client.get(PAGE)
    assert "https://store.example/hooks" in later.text and endpoint.secret not in later.text

    rotated = await post(client, f"{PAGE}/{endpoint.id}/rotate", {})
    assert rotated.status_code == 200
    new_secret = _secret(rotated.text)
    assert new_secret != endpoint.secret and new_secret == (await _endpoints(db))[0].secret

    disabled = await post(client, f"{PAGE}/{endpoint.id}/disable", {})
    assert disabled.status_code == 303
    assert (await _endpoints(db))[0].active is False
    page = await client.get(disabled.headers["location"])
    assert "Endpoint disabled" in page.text and "Disabled" in page.text
    async with db.session() as session:
        actions = (
            await session.exec(
                select(AuditEvent.action).where(AuditEvent.entity_type == "webhook_endpoint")
            )
        ).all()
    assert sorted(actions) == ["created", "disabled", "secret_rotated"]


async def test_a_bad_endpoint_is_refused_with_its_form_kept(client, db) -> None:
    await login(client, db)
    bad = await _add(client, "ftp://store.example/hooks", ["return.created"])
    assert bad.status_code == 400
    assert "must start with http:// or https://" in bad.text
    assert 'value="ftp://store.example/hooks"' in bad.text
    no_events = await _add(client, "https://store.example/hooks", [])
    assert no_events.status_code == 400 and "Choose at least one event" in no_events.text
    assert await _endpoints(db) == []


async def test_the_log_lists_deliveries_and_resends(client, db, jobs, receiver) -> None:
    await login(client, db)
    await _add(client, receiver.url, ["return.created"])
    async with db.session() as session:
        await emit(session, "return.created", {"rma": "R-OLD"}, key="return.created:R-OLD")
        await session.commit()
    receiver.fail_first = 1
    async with db.session() as session:
        await emit(session, "return.created", {"rma": "R-NEW"}, key="return.created:R-NEW")
        await session.commit()
    await jobs.drain()
    page = await client.get(PAGE)
    async with db.session() as session:
        old, new = (await session.exec(select(WebhookDelivery).order_by(WebhookDelivery.id))).all()
    # newest first; one of the two met the store's 500 on its first try
    assert page.text.index(f'id="delivery-{new.id}"') < page.text.index(f'id="delivery-{old.id}"')
    assert "HTTP 500" in page.text and "HTTP 204" in page.text
    assert len(receiver.requests) == 2

    resent = await post(client, f"{PAGE}/deliveries/{old.id}/resend", {})
    assert resent.status_code == 303
    assert "queued again" in (await client.get(resent.headers["location"])).text
    await jobs.drain()
    assert len(receiver.requests) == 3
    assert b"R-OLD" in receiver.requests[-1].body
    async with db.session() as session:
        again = await session.get(WebhookDelivery, old.id)
        assert again.status == "delivered"

    missing = await post(client, f"{PAGE}/deliveries/999/resend", {})
    assert missing.status_code == 400 and "does not exist" in missing.text


async def test_warehouse_staff_cannot_manage_webhooks(client, db) -> None:
    await login(client, db, "wes@shop.example", "warehouse")
    assert (await client.get(PAGE)).status_code == 403
    assert (await client.get("/warehouse")).status_code == 200  # sets the CSRF cookie
    refused = await post(client, PAGE, {"url": "https://evil.example/", "events": "return.created"})
    assert refused.status_code == 403
    assert (await post(client, f"{PAGE}/deliveries/1/resend", {})).status_code == 403
    async with db.session() as session:
        assert (await session.exec(select(func.count()).select_from(WebhookEndpoint))).one() == 0
