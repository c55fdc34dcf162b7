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
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.audit import record
from portal.jobs.outbox import enqueue
from portal.jobs.registry import job
from portal.models.outbox import OutboxMessage
from portal.models.returns import Return
from portal.models.webhooks import WebhookDelivery, WebhookEndpoint

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


class WebhookError(ValueError):
    """A webhook change that cannot happen; the message says why."""


class DeliveryFailed(RuntimeError):
    """The store did not answer 2xx; raised so the outbox retries with backoff."""


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
            endpoint_id=endpoint.id,  # type: ignore[arg-type]
            event=event,
            event_id=event_id,
            payload=data,
        )
        session.add(delivery)
        await session.flush()
        await enqueue(
            session,
            "deliver_webhook",
            {"delivery_id": delivery.id},
            key=f"webhook:{delivery.id}",
            max_attempts=MAX_ATTEMPTS,
        )
        created.append(delivery)
    return created


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


@job("deliver_webhook")
async def deliver_webhook(ctx: Any, *, message_id: int, delivery_id: int) -> None:
    """POST one delivery; anything but 2xx is recorded and raised so the outbox retries."""
    async with ctx.db.session() as session:
        delivery = await session.get(WebhookDelivery, delivery_id)
        if delivery is None or delivery.status == "delivered":
            return
        endpoint = await session.get(WebhookEndpoint, delivery.endpoint_id)
        if endpoint is None or not endpoint.active:
            delivery.status = "failed"
            delivery.last_error = "Not sent: the endpoint is disabled."
            session.add(delivery)
            await session.commit()
            return
        url = endpoint.url
        body = delivery_body(delivery)
        headers = signed_headers(endpoint.secret, delivery, body, int(ctx.now().timestamp()))
    code: int | None = None
    error: str | None = None
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS, follow_redirects=False) as client:
            response = await client.post(url, content=body, headers=headers)
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
        delivery.attempts += 1
        delivery.last_status_code = code
        if error is None:
            delivery.status = "delivered"
            delivery.delivered_at = ctx.now()
            delivery.last_error = None
        else:
            out_of_tries = message is None or message.attempts + 1 >= message.max_attempts
            delivery.status = "failed" if out_of_tries else "pending"
            delivery.last_error = error[:1000]
        session.add(delivery)
        await session.commit()
    if error is not None:
        raise DeliveryFailed(f"webhook {delivery_id} to {url}: {error}")


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
    query = select(WebhookEndpoint).order_by(WebhookEndpoint.id)
    return list((await session.exec(query)).all())


async def list_deliveries(
    session: AsyncSession, *, endpoint_id: int | None = None, limit: int = 100
) -> list[WebhookDelivery]:
    """The delivery log, newest first."""
    query = select(WebhookDelivery)
    if endpoint_id is not None:
        query = query.where(WebhookDelivery.endpoint_id == endpoint_id)
    query = query.order_by(WebhookDelivery.id.desc()).limit(limit)  # type: ignore[union-attr]
    return list((await session.exec(query)).all())


async def get_endpoint(session: AsyncSession, endpoint_id: int) -> WebhookEndpoint:
    endpoint = await session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        raise WebhookError("That webhook endpoint does not exist.")
    return endpoint


async def create_endpoint(
    session: AsyncSession, actor: str, url: str, events: list[str], description: str = ""
) -> WebhookEndpoint:
    """Register an endpoint with a fresh secret (the caller shows it once); commits."""
    url = clean_url(url)
    chosen = clean_events(events)
    description = (description or "").strip()
    if len(description) > 200:
        raise WebhookError("The description is too long (200 characters at most).")
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
    previous = delivery.status
    delivery.status = "pending"
    session.add(delivery)
    await enqueue(
        session,
        "deliver_webhook",
        {"delivery_id": delivery.id},
        key=f"webhook:{delivery.id}:resend:{secrets.token_hex(8)}",
        max_attempts=MAX_ATTEMPTS,
    )
    await record(
        session,
        actor,
        "webhook_delivery",
        delivery.id,
        "resent",
        from_state=previous,
        to_state="pending",
        data={"event": delivery.event, "event_id": delivery.event_id},
    )
    await session.commit()
    return delivery
