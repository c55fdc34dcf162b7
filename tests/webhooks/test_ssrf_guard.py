"""Webhooks cannot be pointed at the portal's own network (SSRF).

With the guard on (``PORTAL_WEBHOOKS_ALLOW_PRIVATE`` off, the production default), a URL
must be https:// and its host must be public, both when it is registered and when each
delivery is sent (the DNS answer may change in between). Nothing here resolves a real
name: the resolver is replaced wherever a name has to resolve.
"""

from __future__ import annotations

import ipaddress

import pytest
from sqlmodel import func, select

from portal import webhooks
from portal.models.outbox import OutboxMessage
from portal.models.webhooks import WebhookDelivery, WebhookEndpoint
from portal.settings import Settings
from portal.webhooks import (
    UnsafeWebhookUrl,
    blocked_reason,
    create_endpoint,
    emit,
    pinned_request,
)
from tests.conftest import submit_form
from tests.merchant.helpers import login

ACTOR = "mia@shop.example"
PUBLIC = "93.184.216.34"  # documentation only: nothing ever connects to it in these tests


def fake_resolver(answers: dict[str, list[str]]):
    """A stand-in for DNS: names not listed do not resolve."""
    calls: list[str] = []

    async def resolve(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        calls.append(host)
        if host not in answers:
            raise OSError(f"[Errno -2] Name or service not known: {host}")
        return [ipaddress.ip_address(a) for a in answers[host]]

    resolve.calls = calls  # type: ignore[attr-defined]
    return resolve


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Replace the resolver for the test; fill the returned dict with name → addresses."""
    answers: dict[str, list[str]] = {}
    monkeypatch.setattr(webhooks, "resolve_host", fake_resolver(answers))
    return answers


async def _register(db, url: str, **kw) -> WebhookEndpoint:
    async with db.session() as session:
        return await create_endpoint(session, ACTOR, url, ["refund.succeeded"], **kw)


async def _count(db, model) -> int:
    async with db.session() as session:
        return (await session.exec(select(func.count()).select_from(model))).one()


def test_the_guard_is_off_in_development_and_on_in_production_unless_set() -> None:
    def make(**kw) -> Settings:
        return Settings(_env_file=None, **kw)  # type: ignore[call-arg]

    prod = {"env": "production", "secret_key": "k" * 40, "database_url": "sqlite:///x"}
    assert make().webhooks_private_allowed is True
    assert make(**prod).webhooks_private_allowed is False
    assert make(webhooks_allow_private=False).webhooks_private_allowed is False
    assert make(**prod, webhooks_allow_private=True).webhooks_private_allowed is True


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "a loopback address"),
        ("127.8.9.10", "a loopback address"),
        ("::1", "a loopback address"),
        ("::ffff:127.0.0.1", "a loopback address"),
        ("10.0.0.5", "a private (RFC 1918) address"),
        ("172.16.3.4", "a private (RFC 1918) address"),
        ("192.168.1.1", "a private (RFC 1918) address"),
        ("169.254.169.254", "a link-local address (the cloud metadata service)"),
        ("169.254.1.2", "a link-local address"),
        ("fe80::1", "a link-local address"),
        ("fd00:ec2::254", "a unique-local IPv6 address"),
        ("224.0.0.1", "a multicast address"),
        ("ff02::1", "a multicast address"),
        ("0.0.0.0", "an unspecified address"),
        ("::", "an unspecified address"),
        ("100.64.0.1", "a reserved address that is not publicly routable"),
        (PUBLIC, None),
        ("2606:4700::1111", None),
        # IPv6 forms that carry an IPv4 address are judged by the address they carry
        ("::ffff:10.0.0.1", "a private (RFC 1918) address"),
        ("64:ff9b::7f00:1", "a loopback address (127.0.0.1 inside a NAT64 IPv6 address)"),
        (
            "64:ff9b::a9fe:a9fe",
            "a link-local address (the cloud metadata service)"
            " (169.254.169.254 inside a NAT64 IPv6 address)",
        ),
        ("64:ff9b::5db8:d822", None),  # NAT64 of a public address (an IPv6-only network)
        (
            "64:ff9b:1::7f00:1",
            "a local-use NAT64 address (it reaches IPv4 addresses inside the network)",
        ),
        ("2002:7f00:1::", "a loopback address (127.0.0.1 inside a 6to4 IPv6 address)"),
        (
            "2002:c0a8:101::1",
            "a private (RFC 1918) address (192.168.1.1 inside a 6to4 IPv6 address)",
        ),
        ("2002:5db8:d822::1", None),  # 6to4 of a public address
        ("::127.0.0.1", "an IPv4-compatible IPv6 address (deprecated, and not publicly routable)"),
        ("::5db8:d822", "an IPv4-compatible IPv6 address (deprecated, and not publicly routable)"),
    ],
)
def test_blocked_reason_names_each_kind_of_internal_address(address, reason) -> None:
    assert blocked_reason(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://127.0.0.1/hooks", "The address 127.0.0.1 is a loopback address"),
        ("https://10.0.0.5:8443/hooks", "The address 10.0.0.5 is a private (RFC 1918) address"),
        (
            "https://169.254.169.254/latest/meta-data/",
            "The address 169.254.169.254 is a link-local address (the cloud metadata service)",
        ),
        ("https://[::1]:9000/hooks", "The address ::1 is a loopback address"),
        ("https://[fd12:3456::1]/hooks", "The address fd12:3456::1 is a unique-local IPv6 address"),
        ("https://0.0.0.0/hooks", "The address 0.0.0.0 is an unspecified address"),
        ("https://[64:ff9b::7f00:1]/hooks", "The address 64:ff9b::7f00:1 is a loopback address"),
        ("https://[2002:7f00:1::]/hooks", "The address 2002:7f00:1:: is a loopback address"),
        ("https://[::127.0.0.1]/hooks", "The address ::127.0.0.1 is an IPv4-compatible"),
        ("https://[::ffff:127.0.0.1]/hooks", "The address ::ffff:127.0.0.1 is a loopback"),
        (
            "https://nat64.store.example/hooks",  # DNS64 answering with an internal address
            "The host nat64.store.example resolves to 64:ff9b::a00:5, a private (RFC 1918)",
        ),
        ("https://localhost:8000/hooks", "The host localhost is a loopback address"),
        ("https://api.localhost/hooks", "The host api.localhost is a loopback address"),
        (
            "https://intranet.store.example/hooks",
            "The host intranet.store.example resolves to 10.1.2.3, a private (RFC 1918) address",
        ),
        (
            "https://sneaky.store.example/hooks",  # one good and one loopback answer
            "The host sneaky.store.example resolves to 127.0.0.1, a loopback address",
        ),
        (
            "https://2130706433/hooks",  # 127.0.0.1 written as a number: the resolver decides
            "The host 2130706433 resolves to 127.0.0.1, a loopback address",
        ),
        ("http://hooks.store.example/in", "Use an https:// URL"),
        ("https://nowhere.store.example/in", "The host nowhere.store.example does not resolve"),
    ],
)
async def test_internal_urls_are_refused_at_registration(db, dns, url, message) -> None:
    dns.update(
        {
            "intranet.store.example": ["10.1.2.3"],
            "sneaky.store.example": [PUBLIC, "127.0.0.1"],
            "hooks.store.example": [PUBLIC],
            "2130706433": ["127.0.0.1"],
            "nat64.store.example": ["64:ff9b::a00:5"],
        }
    )
    with pytest.raises(UnsafeWebhookUrl) as refused:
        await _register(db, url)
    assert message in str(refused.value)
    if "does not resolve" not in message and "https://" not in message:
        assert "webhooks may only go to public addresses" in str(refused.value)
        assert "PORTAL_WEBHOOKS_ALLOW_PRIVATE" in str(refused.value)
    assert await _count(db, WebhookEndpoint) == 0
    assert "localhost" not in webhooks.resolve_host.calls  # type: ignore[attr-defined]


async def test_a_public_https_endpoint_is_registered(db, dns) -> None:
    dns["hooks.store.example"] = [PUBLIC]
    endpoint = await _register(db, "https://hooks.store.example/in")
    assert endpoint.id and webhooks.resolve_host.calls == ["hooks.store.example"]  # type: ignore[attr-defined]


async def test_allow_private_accepts_loopback_and_http_without_resolving(db, dns) -> None:
    await _register(db, "http://127.0.0.1:9/hook", allow_private=True)
    await _register(db, "http://intranet.store.example/hook", allow_private=True)
    assert await _count(db, WebhookEndpoint) == 2
    assert webhooks.resolve_host.calls == []  # type: ignore[attr-defined]


async def test_the_merchant_page_refuses_an_internal_url_with_the_reason(client, db, app) -> None:
    app.state.settings.webhooks_allow_private = False
    await login(client, db)
    response = await submit_form(
        client,
        "/merchant/webhooks",
        "/merchant/webhooks",
        {"url": "https://169.254.169.254/latest", "description": "x", "events": ["return.created"]},
    )
    assert response.status_code == 400
    assert "link-local address (the cloud metadata service)" in response.text
    assert await _count(db, WebhookEndpoint) == 0


def test_a_pinned_request_keeps_the_host_name_for_http_and_tls() -> None:
    url, headers, extensions = pinned_request(
        "https://hooks.store.example:8443/in?x=1", ipaddress.ip_address(PUBLIC)
    )
    assert url == f"https://{PUBLIC}:8443/in?x=1"
    assert headers == {"Host": "hooks.store.example:8443"}
    assert extensions == {"sni_hostname": "hooks.store.example"}
    url, headers, _ = pinned_request(
        "https://hooks.store.example/in", ipaddress.ip_address("2606:4700::1111")
    )
    assert url == "https://[2606:4700::1111]/in" and headers == {"Host": "hooks.store.example"}


async def _emit(db) -> None:
    async with db.session() as session:
        await emit(session, "refund.succeeded", {"refund_id": 1}, key="refund.succeeded:1")
        await session.commit()


async def _only_delivery(db) -> tuple[WebhookDelivery, OutboxMessage]:
    async with db.session() as session:
        [delivery] = (await session.exec(select(WebhookDelivery))).all()
        [message] = (
            await session.exec(select(OutboxMessage).where(OutboxMessage.job == "deliver_webhook"))
        ).all()
    return delivery, message


async def test_a_delivery_to_an_internal_address_is_refused_at_send_time(
    db, jobs, clock, receiver, dns
) -> None:
    """Registered while internal addresses were allowed; the guard is on when it is sent."""
    await _register(db, receiver.url, allow_private=True)
    jobs.ctx.settings.webhooks_allow_private = False
    await _emit(db)
    await jobs.drain()
    delivery, message = await _only_delivery(db)
    assert receiver.requests == []
    assert delivery.status == "failed" and delivery.attempts == 1
    assert delivery.last_status_code is None
    assert delivery.last_error.startswith("Not sent: Use an https:// URL")
    assert message.status == "dead" and message.attempts == 1  # not retried
    clock.advance(3600)
    await jobs.drain()
    assert receiver.requests == []


async def test_a_host_that_resolves_inside_at_send_time_is_not_contacted(
    db, jobs, clock, receiver, dns, monkeypatch
) -> None:
    """DNS rebinding: public when registered, the receiver's loopback address when sent."""
    jobs.ctx.settings.webhooks_allow_private = False
    attempts: list[str] = []
    real_post = webhooks.httpx.AsyncClient.post

    async def spy_post(self, url, **kw):
        attempts.append(str(url))
        return await real_post(self, url, **kw)

    monkeypatch.setattr(webhooks.httpx.AsyncClient, "post", spy_post)
    port = receiver.url.split(":")[2].split("/")[0]
    dns["hooks.store.example"] = [PUBLIC]
    await _register(db, f"https://hooks.store.example:{port}/hooks/returns")
    dns["hooks.store.example"] = ["127.0.0.1"]
    await _emit(db)
    await jobs.drain()
    delivery, message = await _only_delivery(db)
    assert receiver.requests == [] and attempts == []  # no connection was even tried
    assert delivery.status == "failed" and delivery.attempts == 1
    assert delivery.last_error == (
        "Not sent: The host hooks.store.example resolves to 127.0.0.1, a loopback address; "
        "webhooks may only go to public addresses (an operator can allow internal ones with "
        "PORTAL_WEBHOOKS_ALLOW_PRIVATE=true)."
    )
    assert message.status == "dead"
    clock.advance(3600)
    await jobs.drain()
    assert receiver.requests == []


async def test_a_host_that_stops_resolving_is_retried_like_any_failure(
    db, jobs, clock, dns
) -> None:
    jobs.ctx.settings.webhooks_allow_private = False
    dns["hooks.store.example"] = [PUBLIC]
    await _register(db, "https://hooks.store.example/in")
    del dns["hooks.store.example"]
    await _emit(db)
    await jobs.drain()
    delivery, message = await _only_delivery(db)
    assert delivery.status == "pending" and "does not resolve" in delivery.last_error
    assert message.status == "pending"


async def test_a_public_address_is_the_one_connected_to(db, jobs, clock, dns, monkeypatch) -> None:
    """The send goes to the checked address with the original Host and TLS name."""
    jobs.ctx.settings.webhooks_allow_private = False
    dns["hooks.store.example"] = [PUBLIC]
    await _register(db, "https://hooks.store.example/in")
    seen: list = []

    async def fake_post(self, url, *, content, headers, extensions):
        seen.append((url, headers["Host"], extensions))
        return webhooks.httpx.Response(204)

    monkeypatch.setattr(webhooks.httpx.AsyncClient, "post", fake_post)
    await _emit(db)
    await jobs.drain()
    delivery, _ = await _only_delivery(db)
    assert delivery.status == "delivered"
    assert seen == [
        (f"https://{PUBLIC}/in", "hooks.store.example", {"sni_hostname": "hooks.store.example"})
    ]
