"""Store webhooks: signed events sent to the store's endpoints through the outbox.

Other code announces an event with ``emit`` inside the transaction that causes it, so a
delivery exists if and only if its cause was committed::

    from portal.webhooks import emit, emit_return_event

    await emit_return_event(session, "return.received", ret)           # key "return.received:RMA"
    await emit(session, "refund.succeeded", {...}, key=f"refund.succeeded:{refund.id}")

The same ``key`` never delivers twice. Each delivery is a ``deliver_webhook`` outbox row,
retried with the outbox's backoff; the body is signed as ``X-Portal-Signature:
t=<unix seconds>,v1=<hex HMAC-SHA256(secret, f"{t}.{body}")>`` so a store can check both
who sent it and that it is fresh (``verify_signature``).

Endpoints cannot be pointed at the portal's own network (SSRF) unless the operator allows
it (``PORTAL_WEBHOOKS_ALLOW_PRIVATE``; on by default only in development): a URL must then
be https:// and its host must not be, or resolve to, a loopback, private, link-local,
unique-local, multicast, unspecified or otherwise non-public address. The check runs when
the endpoint is registered and again at every send, which connects to the very address it
checked (so a DNS answer that changes in between cannot redirect the request inside).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import secrets
import socket
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.audit import record
from portal.errors import Invalid
from portal.jobs.names import Job
from portal.jobs.outbox import enqueue
from portal.jobs.registry import Jobs
from portal.models.base import id_of
from portal.models.outbox import OutboxMessage
from portal.models.returns import Return
from portal.models.webhooks import DeliveryState, WebhookDelivery, WebhookEndpoint
from portal.webhook_states import attempt_failed, delivered, not_sent
from portal.webhook_states import resend as resend_delivery

EVENTS = (
    "return.created",
    "return.received",
    "refund.succeeded",
    "store_credit.issued",
    "exchange.released",
)
EVENT_LABELS = {
    "return.created": "A shopper created a return",
    "return.received": "The warehouse received a return",
    "refund.succeeded": "A refund went through",
    "store_credit.issued": "Store credit was issued",
    "exchange.released": "An exchange was released for shipping",
}
SIGNATURE_HEADER = "X-Portal-Signature"
TIMEOUT_SECONDS = 10.0
MAX_ATTEMPTS = 12  # with the outbox backoff (5 s doubling, capped at 1 h): about 2.5 hours
USER_AGENT = "ReturnsPortal-Webhooks/1"


class WebhookError(Invalid):
    """A webhook change that cannot happen; the message says why."""


class DeliveryFailed(RuntimeError):
    """The store did not answer 2xx; raised so the outbox retries with backoff."""


class DeliveryRefused(DeliveryFailed):
    """The endpoint's address is not allowed; not retried (the outbox row goes dead)."""

    retryable = False


class UnsafeWebhookUrl(WebhookError):
    """The URL is not allowed as a webhook destination; the message names the reason.

    ``transient`` is true when the host merely did not resolve (worth trying again later).
    """

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


# --- where webhooks may go (SSRF guard) ------------------------------------------------

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
ALLOW_PRIVATE_SETTING = "PORTAL_WEBHOOKS_ALLOW_PRIVATE"
_RFC1918 = tuple(
    ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
)
_UNIQUE_LOCAL = ipaddress.IPv6Network("fc00::/7")
_METADATA = ipaddress.IPv4Address("169.254.169.254")


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052: the IPv4 address in the last 32 bits
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")  # RFC 8215: where the IPv4 sits varies
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")  # RFC 4291, deprecated: ::127.0.0.1


def _embedded_ipv4_reason(address: ipaddress.IPv6Address) -> str | None:
    """Why an IPv6 form that carries an IPv4 address to a translator must not be used."""
    if address in _NAT64_LOCAL:
        return "a local-use NAT64 address (it reaches IPv4 addresses inside the network)"
    if address in _IPV4_COMPATIBLE and not (address.is_unspecified or address.is_loopback):
        return "an IPv4-compatible IPv6 address (deprecated, and not publicly routable)"
    for kind, inner in (
        ("NAT64", ipaddress.IPv4Address(int(address) & 0xFFFFFFFF) if address in _NAT64 else None),
        ("6to4", address.sixtofour),
    ):
        if inner is not None:
            reason = blocked_reason(inner)
            if reason:
                return f"{reason} ({inner} inside a {kind} IPv6 address)"
    return None


def blocked_reason(address: Address) -> str | None:
    """Why a webhook must not go to ``address`` ("a loopback address", …), or None.

    IPv6 forms that embed an IPv4 address are judged by that address: IPv4-mapped
    (``::ffff:127.0.0.1``), NAT64 (``64:ff9b::7f00:1``) and 6to4 (``2002:7f00:1::``);
    the deprecated IPv4-compatible form and local-use NAT64 are refused outright.
    """
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4_reason(address)
        if embedded:
            return embedded
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address == _METADATA:
        return "a link-local address (the cloud metadata service)"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if isinstance(address, ipaddress.IPv4Address) and any(address in n for n in _RFC1918):
        return "a private (RFC 1918) address"
    if isinstance(address, ipaddress.IPv6Address) and address in _UNIQUE_LOCAL:
        return "a unique-local IPv6 address"
    if not address.is_global:
        return "a reserved address that is not publicly routable"
    return None


async def resolve_host(host: str, port: int) -> list[Address]:
    """Every address ``host`` resolves to (tests replace this; nothing else resolves)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: list[Address] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    return found


def _refusal(what: str, reason: str) -> UnsafeWebhookUrl:
    return UnsafeWebhookUrl(
        f"{what} {reason}; webhooks may only go to public addresses "
        f"(an operator can allow internal ones with {ALLOW_PRIVATE_SETTING}=true)."
    )


async def check_destination(url: str) -> Address:
    """The public address to send ``url``'s requests to; raises UnsafeWebhookUrl otherwise.

    Every address the host resolves to must be public (an attacker's DNS may answer with
    several), and the caller connects to the one returned, never resolving again.
    """
    parts = urlsplit(url)
    if parts.scheme != "https":
        raise UnsafeWebhookUrl(
            "Use an https:// URL: webhooks carry signed order data. http:// is accepted only "
            f"when {ALLOW_PRIVATE_SETTING} is on (the default in development)."
        )
    host = (parts.hostname or "").rstrip(".")
    try:
        port = parts.port or 443
    except ValueError:
        raise UnsafeWebhookUrl("The URL's port is not a number between 1 and 65535.") from None
    try:
        literal: Address | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        reason = blocked_reason(literal)
        if reason:
            raise _refusal(f"The address {host} is", reason)
        return literal
    if host == "localhost" or host.endswith(".localhost"):
        raise _refusal(f"The host {host} is", "a loopback address (localhost names this machine)")
    try:
        addresses = await resolve_host(host, port)
    except (OSError, UnicodeError, ValueError) as exc:
        raise UnsafeWebhookUrl(
            f"The host {host} does not resolve ({exc}).", transient=True
        ) from None
    if not addresses:
        raise UnsafeWebhookUrl(f"The host {host} does not resolve.", transient=True)
    for address in addresses:
        reason = blocked_reason(address)
        if reason:
            raise _refusal(f"The host {host} resolves to {address},", reason)
    return addresses[0]


def pinned_request(url: str, address: Address) -> tuple[str, dict[str, str], dict[str, Any]]:
    """``url`` rewritten to connect to ``address``, with the Host header and TLS server
    name (SNI and certificate check) of the original host: (url, headers, extensions)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").encode("idna").decode("ascii")
    port = f":{parts.port}" if parts.port else ""
    literal = f"[{address}]" if address.version == 6 else str(address)
    pinned = urlunsplit(parts._replace(netloc=f"{literal}{port}"))
    return pinned, {"Host": f"{host}{port}"}, {"sni_hostname": host}


# --- signing ---------------------------------------------------------------------------


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def sign(secret: str, body: bytes | str, timestamp: int) -> str:
    """The ``X-Portal-Signature`` value for ``body`` sent at ``timestamp`` (unix seconds)."""
    raw = body.encode() if isinstance(body, str) else body
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + raw, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def verify_signature(
    secret: str,
    header: str,
    body: bytes | str,
    tolerance: int = 300,
    now: float | None = None,
) -> bool:
    """True when ``header`` signs ``body`` with ``secret`` within ``tolerance`` seconds.

    The timestamp is inside the signed text, so an old request cannot be replayed with a
    fresh ``t``. Several ``v1`` values are accepted (a sender may sign with two secrets).
    """
    timestamp: int | None = None
    candidates: list[str] = []
    for part in (header or "").split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == "v1" and value:
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        return False
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    return any(hmac.compare_digest(expected, c) for c in candidates)


def event_id_for(key: str) -> str:
    """A stable event id from the emit key, so every endpoint sees the same id."""
    return "evt_" + hashlib.sha256(key.encode()).hexdigest()[:32]


def delivery_body(delivery: WebhookDelivery) -> bytes:
    """The JSON body; the same bytes on every attempt and on a resend."""
    document = {
        "id": delivery.event_id,
        "type": delivery.event,
        "created_at": delivery.created_at.isoformat(),
        "data": delivery.payload,
    }
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


def signed_headers(
    secret: str, delivery: WebhookDelivery, body: bytes, timestamp: int
) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        SIGNATURE_HEADER: sign(secret, body, timestamp),
        "X-Portal-Event": delivery.event,
        "X-Portal-Delivery": str(delivery.id),
    }


# --- emitting --------------------------------------------------------------------------


async def emit(
    session: AsyncSession, event: str, data: dict[str, Any], *, key: str
) -> list[WebhookDelivery]:
    """Queue ``event`` for every active endpoint subscribed to it, in the caller's transaction.

    Never commits. ``key`` names the occurrence (``"return.created:RMA-123"``): emitting
    the same key again adds nothing. Returns the deliveries created now.
    """
    if event not in EVENTS:
        raise ValueError(f"unknown webhook event {event!r}; known: {', '.join(EVENTS)}")
    if not key or len(key) > 150:
        raise ValueError("a webhook event needs a key of at most 150 characters")
    json.dumps(data)  # refuse data that cannot be sent, before anything is written
    event_id = event_id_for(key)
    endpoints = (
        await session.exec(select(WebhookEndpoint).where(WebhookEndpoint.active == True))  # noqa: E712
    ).all()
    created: list[WebhookDelivery] = []
    for endpoint in endpoints:
        if event not in (endpoint.events or []):
            continue
        seen = (
            await session.exec(
                select(WebhookDelivery.id).where(
                    WebhookDelivery.endpoint_id == endpoint.id,
                    WebhookDelivery.event_id == event_id,
                )
            )
        ).first()
        if seen is not None:
            continue
        delivery = WebhookDelivery(
            endpoint_id=id_of(endpoint),
            event=event,
            event_id=event_id,
            payload=data,
        )
        session.add(delivery)
        await session.flush()
        await enqueue(
            session,
            Job.DELIVER_WEBHOOK,
            {"delivery_id": delivery.id},
            key=f"webhook:{delivery.id}",
            max_attempts=MAX_ATTEMPTS,
        )
        created.append(delivery)
    return created


async def subscribed(session: AsyncSession, event: str) -> bool:
    """True when an active endpoint listens for ``event`` (so a caller can skip building
    a costly payload nobody receives)."""
    endpoints = (
        await session.exec(
            select(WebhookEndpoint.events).where(WebhookEndpoint.active == True)  # noqa: E712
        )
    ).all()
    return any(event in (events or []) for events in endpoints)


def return_data(ret: Return, order_number: str | None = None) -> dict[str, Any]:
    """What a store needs about a return (amounts in minor units)."""
    return {
        "return_id": ret.id,
        "rma": ret.rma,
        "status": ret.status,
        "order_id": ret.order_id,
        "order_number": order_number,
        "currency": ret.currency,
        "refund_total": ret.refund_total,
        "store_credit_total": ret.store_credit_total,
        "label_fee": ret.label_fee,
    }


async def emit_return_event(
    session: AsyncSession,
    event: str,
    ret: Return,
    order_number: str | None = None,
    *,
    extra: dict[str, Any] | None = None,
    key: str | None = None,
) -> list[WebhookDelivery]:
    """``emit`` with the return's fields; the key defaults to ``"<event>:<RMA>"``."""
    data = {**return_data(ret, order_number), **(extra or {})}
    return await emit(session, event, data, key=key or f"{event}:{ret.rma}")


# --- delivering ------------------------------------------------------------------------


async def deliver_webhook(ctx: Any, *, message_id: int, delivery_id: int) -> None:
    """POST one delivery; anything but 2xx is recorded and raised so the outbox retries."""
    async with ctx.db.session() as session:
        delivery = await session.get(WebhookDelivery, delivery_id)
        if delivery is None or delivery.status == DeliveryState.DELIVERED:
            return
        endpoint = await session.get(WebhookEndpoint, delivery.endpoint_id)
        if endpoint is None or not endpoint.active:
            await not_sent(session, delivery, "Not sent: the endpoint is disabled.")
            await session.commit()
            return
        url = endpoint.url
        body = delivery_body(delivery)
        headers = signed_headers(endpoint.secret, delivery, body, int(ctx.now().timestamp()))
    code: int | None = None
    error: str | None = None
    refused = False
    target: str = url
    extensions: dict[str, Any] = {}
    if not ctx.settings.webhooks_private_allowed:
        # Resolve again now (the DNS answer may have changed since registration) and
        # connect to the address checked, so it cannot change between check and connect.
        try:
            address = await check_destination(url)
            target, pinned_headers, extensions = pinned_request(url, address)
            headers = {**headers, **pinned_headers}
        except UnsafeWebhookUrl as exc:
            error, refused = f"Not sent: {exc}", not exc.transient
    if error is None:
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS, follow_redirects=False) as client:
                response = await client.post(
                    target, content=body, headers=headers, extensions=extensions
                )
            code = response.status_code
            if not 200 <= code < 300:
                error = f"HTTP {code}: {response.text[:300]}".strip()
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    async with ctx.db.session() as session:
        delivery = await session.get(WebhookDelivery, delivery_id, with_for_update=True)
        if delivery is None:
            return
        message = await session.get(OutboxMessage, message_id)
        if error is None:
            await delivered(session, delivery, status_code=code, at=ctx.now())
        else:
            out_of_tries = message is None or message.attempts + 1 >= message.max_attempts
            await attempt_failed(
                session, delivery, error, status_code=code, final=out_of_tries or refused
            )
        await session.commit()
    if refused:
        raise DeliveryRefused(f"webhook {delivery_id} to {url}: {error}")
    if error is not None:
        raise DeliveryFailed(f"webhook {delivery_id} to {url}: {error}")


JOBS: Jobs = {Job.DELIVER_WEBHOOK: deliver_webhook}


# --- managing endpoints ----------------------------------------------------------------


def clean_url(url: str) -> str:
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookError("The URL must start with http:// or https:// and name a host.")
    if len(url) > 2000:
        raise WebhookError("The URL is too long (2000 characters at most).")
    if parts.username or parts.password:
        raise WebhookError("Leave user names and passwords out of the URL; requests are signed.")
    try:
        parts.port  # noqa: B018 - raises for a port that is not a number in range
    except ValueError:
        raise WebhookError("The URL's port is not a number between 1 and 65535.") from None
    return url


def clean_events(events: list[str]) -> list[str]:
    unknown = sorted(set(events) - set(EVENTS))
    if unknown:
        raise WebhookError(f"Unknown event {', '.join(unknown)}; choose from {', '.join(EVENTS)}.")
    chosen = [e for e in EVENTS if e in set(events)]
    if not chosen:
        raise WebhookError("Choose at least one event.")
    return chosen


async def list_endpoints(session: AsyncSession) -> list[WebhookEndpoint]:
    query = select(WebhookEndpoint).order_by(col(WebhookEndpoint.id))
    return list((await session.exec(query)).all())


async def list_deliveries(
    session: AsyncSession, *, endpoint_id: int | None = None, limit: int = 100
) -> list[WebhookDelivery]:
    """The delivery log, newest first."""
    query = select(WebhookDelivery)
    if endpoint_id is not None:
        query = query.where(WebhookDelivery.endpoint_id == endpoint_id)
    query = query.order_by(col(WebhookDelivery.id).desc()).limit(limit)
    return list((await session.exec(query)).all())


async def get_endpoint(session: AsyncSession, endpoint_id: int) -> WebhookEndpoint:
    endpoint = await session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        raise WebhookError("That webhook endpoint does not exist.")
    return endpoint


async def create_endpoint(
    session: AsyncSession,
    actor: str,
    url: str,
    events: list[str],
    description: str = "",
    *,
    allow_private: bool = False,
) -> WebhookEndpoint:
    """Register an endpoint with a fresh secret (the caller shows it once); commits.

    Unless ``allow_private`` (``Settings.webhooks_private_allowed``), the URL must be
    https:// and reach only public addresses (``check_destination``; a host that does not
    resolve is refused too).
    """
    url = clean_url(url)
    chosen = clean_events(events)
    description = (description or "").strip()
    if len(description) > 200:
        raise WebhookError("The description is too long (200 characters at most).")
    if not allow_private:
        await check_destination(url)
    endpoint = WebhookEndpoint(
        url=url, description=description, secret=new_secret(), events=chosen, created_by=actor
    )
    session.add(endpoint)
    await session.flush()
    await record(
        session,
        actor,
        "webhook_endpoint",
        endpoint.id,
        "created",
        to_state="active",
        data={"url": url, "events": chosen},
    )
    await session.commit()
    return endpoint


async def set_endpoint_active(
    session: AsyncSession, actor: str, endpoint_id: int, active: bool
) -> WebhookEndpoint:
    """Disable (pending deliveries stop at their next try) or enable again; commits."""
    endpoint = await get_endpoint(session, endpoint_id)
    if endpoint.active == active:
        return endpoint
    endpoint.active = active
    session.add(endpoint)
    await record(
        session,
        actor,
        "webhook_endpoint",
        endpoint.id,
        "enabled" if active else "disabled",
        from_state="disabled" if active else "active",
        to_state="active" if active else "disabled",
    )
    await session.commit()
    return endpoint


async def rotate_secret(session: AsyncSession, actor: str, endpoint_id: int) -> WebhookEndpoint:
    """A new secret at once (the old one stops signing); the caller shows it once; commits."""
    endpoint = await get_endpoint(session, endpoint_id)
    endpoint.secret = new_secret()
    session.add(endpoint)
    await record(session, actor, "webhook_endpoint", endpoint.id, "secret_rotated")
    await session.commit()
    return endpoint


async def resend(session: AsyncSession, actor: str, delivery_id: int) -> WebhookDelivery:
    """Send a delivery again, with the same event id and body; commits."""
    delivery = await session.get(WebhookDelivery, delivery_id)
    if delivery is None:
        raise WebhookError("That delivery does not exist.")

    endpoint = await get_endpoint(session, delivery.endpoint_id)
    if not endpoint.active:
        raise WebhookError("Enable the endpoint before resending to it.")
    await resend_delivery(session, delivery, actor)
    await enqueue(
        session,
        Job.DELIVER_WEBHOOK,
        {"delivery_id": delivery.id},
        key=f"webhook:{delivery.id}:resend:{secrets.token_hex(8)}",
        max_attempts=MAX_ATTEMPTS,
    )
    await session.commit()
    return delivery
