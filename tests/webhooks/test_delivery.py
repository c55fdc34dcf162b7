"""Webhooks in the domain: signing, delivery through the outbox, retries, idempotency, resend."""

from __future__ import annotations

import json
import time

import pytest
from sqlmodel import func, select

from portal.models.audit import AuditEvent
from portal.models.outbox import OutboxMessage
from portal.models.webhooks import WebhookDelivery, WebhookEndpoint
from portal.returns.create import Choice, ItemRequest
from portal.webhooks import (
    EVENTS,
    WebhookError,
    create_endpoint,
    emit,
    resend,
    rotate_secret,
    set_endpoint_active,
    sign,
    verify_signature,
)
from tests.returns.builders import seed_shop
from tests.returns.helpers import create

ACTOR = "mia@shop.example"


async def _endpoint(db, url: str, events: list[str] | None = None) -> WebhookEndpoint:
    async with db.session() as session:
        return await create_endpoint(
            session, ACTOR, url, events or list(EVENTS), "the store", allow_private=True
        )


async def _emit(db, event: str = "refund.succeeded", key: str = "refund.succeeded:1") -> None:
    async with db.session() as session:
        await emit(session, event, {"refund_id": 1, "amount": 4405}, key=key)
        await session.commit()


async def _deliveries(db) -> list[WebhookDelivery]:
    async with db.session() as session:
        return list(
            (await session.exec(select(WebhookDelivery).order_by(WebhookDelivery.id))).all()
        )


def _check_signed(request, secret: str, now: float) -> dict:
    header = request.headers["X-Portal-Signature"]
    assert verify_signature(secret, header, request.body, now=now)
    return json.loads(request.body)


def test_signature_verifies_and_rejects_tampering_and_old_timestamps() -> None:
    body = b'{"id":"evt_1","type":"return.created"}'
    now = int(time.time())
    header = sign("whsec_abc", body, now)
    assert header.startswith(f"t={now},v1=")
    assert verify_signature("whsec_abc", header, body, now=now)
    assert verify_signature("whsec_abc", header, body.decode(), now=now + 299)
    changed = body.replace(b"evt_1", b"evt_2")
    assert not verify_signature("whsec_abc", header, changed, now=now)
    assert not verify_signature("whsec_other", header, body, now=now)
    assert not verify_signature("whsec_abc", header, body, now=now + 301)  # too old
    assert not verify_signature("whsec_abc", sign("whsec_abc", body, now - 600), body, now=now)
    replayed = header.replace(f"t={now}", f"t={now + 5}")  # a fresh t on an old signature
    assert not verify_signature("whsec_abc", replayed, body, now=now)
    assert not verify_signature("whsec_abc", "", body, now=now)
    assert not verify_signature("whsec_abc", "t=x,v1=", body, now=now)


async def test_an_event_is_delivered_signed_with_its_headers(db, jobs, clock, receiver) -> None:
    endpoint = await _endpoint(db, receiver.url)
    await _emit(db)
    await jobs.drain()
    [request] = receiver.requests
    assert request.path == "/hooks/returns"
    body = _check_signed(request, endpoint.secret, clock().timestamp())
    [delivery] = await _deliveries(db)
    assert body["type"] == "refund.succeeded" and body["id"] == delivery.event_id
    assert body["data"] == {"refund_id": 1, "amount": 4405} and body["created_at"]
    assert request.headers["X-Portal-Event"] == "refund.succeeded"
    assert request.headers["X-Portal-Delivery"] == str(delivery.id)
    assert request.headers["Content-Type"] == "application/json"
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 1, 204)
    assert delivery.delivered_at is not None and delivery.last_error is None


async def test_a_failing_store_is_retried_with_backoff_until_delivered(
    db, jobs, clock, receiver
) -> None:
    endpoint = await _endpoint(db, receiver.url)
    receiver.fail_first = 2
    await _emit(db)
    await jobs.drain()
    [delivery] = await _deliveries(db)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, 500)
    assert "HTTP 500" in delivery.last_error
    await jobs.drain()  # nothing is due before the backoff has passed
    assert len(receiver.requests) == 1
    async with db.session() as session:
        message = (await session.exec(select(OutboxMessage))).one()
        assert message.status == "pending" and message.next_attempt_at > clock()
    clock.advance(60)
    await jobs.drain()
    assert len(receiver.requests) == 2
    clock.advance(60)
    await jobs.drain()
    assert len(receiver.requests) == 3
    [delivery] = await _deliveries(db)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 3, 204)
    assert delivery.last_error is None
    bodies = {r.body for r in receiver.requests}
    assert len(bodies) == 1  # the same event every time; only the signature's t moves
    _check_signed(receiver.requests[-1], endpoint.secret, clock().timestamp())


async def test_an_unreachable_store_ends_failed_and_dead(db, jobs, clock) -> None:
    from tests.support.live_server import free_port

    await _endpoint(db, f"http://127.0.0.1:{free_port()}/nobody")
    async with db.session() as session:
        await emit(session, "return.created", {"rma": "R-1"}, key="return.created:R-1")
        message = (await session.exec(select(OutboxMessage))).one()
        message.max_attempts = 2
        session.add(message)
        await session.commit()
    await jobs.drain()
    clock.advance(60)
    await jobs.drain()
    [delivery] = await _deliveries(db)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("failed", 2, None)
    assert "ConnectError" in delivery.last_error
    async with db.session() as session:
        assert (await session.exec(select(OutboxMessage.status))).one() == "dead"


async def test_the_same_event_twice_is_delivered_once(db, jobs, clock, receiver) -> None:
    await _endpoint(db, receiver.url)
    await _emit(db)
    await _emit(db)
    await jobs.drain()
    assert len(receiver.requests) == 1
    assert len(await _deliveries(db)) == 1


async def test_only_active_subscribed_endpoints_get_the_event(db, jobs, clock, receiver) -> None:
    await _endpoint(db, receiver.url, ["return.created"])
    off = await _endpoint(db, receiver.url + "?off")
    async with db.session() as session:
        await set_endpoint_active(session, ACTOR, off.id, False)
    await _emit(db, "refund.succeeded", "refund.succeeded:9")
    await jobs.drain()
    assert receiver.requests == [] and await _deliveries(db) == []


async def test_disabling_an_endpoint_stops_its_queued_deliveries(db, jobs, clock, receiver) -> None:
    endpoint = await _endpoint(db, receiver.url)
    await _emit(db)
    async with db.session() as session:
        await set_endpoint_active(session, ACTOR, endpoint.id, False)
    await jobs.drain()
    assert receiver.requests == []
    [delivery] = await _deliveries(db)
    assert delivery.status == "failed" and "disabled" in delivery.last_error
    async with db.session() as session:
        assert (await session.exec(select(OutboxMessage.status))).one() == "done"
        with pytest.raises(WebhookError, match="Enable the endpoint"):
            await resend(session, ACTOR, delivery.id)


async def test_resend_delivers_again_with_the_same_event_id(db, jobs, clock, receiver) -> None:
    endpoint = await _endpoint(db, receiver.url)
    await _emit(db)
    await jobs.drain()
    [delivery] = await _deliveries(db)
    async with db.session() as session:
        await resend(session, ACTOR, delivery.id)
    await jobs.drain()
    first, second = receiver.requests
    assert json.loads(first.body)["id"] == json.loads(second.body)["id"] == delivery.event_id
    assert first.body == second.body
    assert second.headers["X-Portal-Delivery"] == str(delivery.id)
    [delivery] = await _deliveries(db)
    assert (delivery.status, delivery.attempts) == ("delivered", 2)
    async with db.session() as session:
        actions = (
            await session.exec(
                select(AuditEvent.entity_type, AuditEvent.action).order_by(AuditEvent.id)
            )
        ).all()
    assert ("webhook_delivery", "resent") in actions
    assert ("webhook_endpoint", "created") in actions
    _check_signed(second, endpoint.secret, clock().timestamp())


async def test_a_rotated_secret_signs_from_then_on(db, jobs, clock, receiver) -> None:
    endpoint = await _endpoint(db, receiver.url)
    async with db.session() as session:
        rotated = await rotate_secret(session, ACTOR, endpoint.id)
        new_secret = rotated.secret
    assert new_secret != endpoint.secret and new_secret.startswith("whsec_")
    await _emit(db)
    await jobs.drain()
    [request] = receiver.requests
    now = clock().timestamp()
    header = request.headers["X-Portal-Signature"]
    assert verify_signature(new_secret, header, request.body, now=now)
    assert not verify_signature(endpoint.secret, header, request.body, now=now)


@pytest.mark.parametrize(
    ("url", "events", "message"),
    [
        ("ftp://store.example/hooks", ["return.created"], "http:// or https://"),
        ("store.example/hooks", ["return.created"], "http:// or https://"),
        ("https://user:pw@store.example/", ["return.created"], "passwords"),
        ("https://store.example/hooks", [], "at least one event"),
        ("https://store.example/hooks", ["order.paid"], "Unknown event order.paid"),
    ],
)
async def test_bad_endpoints_are_refused_and_change_nothing(db, url, events, message) -> None:
    async with db.session() as session:
        with pytest.raises(WebhookError, match=message):
            await create_endpoint(session, ACTOR, url, events)
        await session.rollback()
        assert (await session.exec(select(func.count()).select_from(WebhookEndpoint))).one() == 0
        assert (await session.exec(select(func.count()).select_from(AuditEvent))).one() == 0


async def test_emit_refuses_unknown_events(db) -> None:
    async with db.session() as session:
        with pytest.raises(ValueError, match="unknown webhook event"):
            await emit(session, "order.paid", {}, key="order.paid:1")


async def test_confirm_return_emits_return_created_with_its_rma(
    db, jobs, clock, receiver, signer
) -> None:
    endpoint = await _endpoint(db, receiver.url, ["return.created"])
    shop = await seed_shop(db)
    tee = shop.lines["L1"]
    done = await create(
        db, signer, shop.order_id, [ItemRequest(tee, 1, "changed_mind")], {tee: Choice("refund")}
    )
    await jobs.drain()
    [request] = [r for r in receiver.requests]
    body = _check_signed(request, endpoint.secret, clock().timestamp())
    assert body["type"] == "return.created"
    assert body["data"]["rma"] == done.ret.rma
    assert body["data"]["return_id"] == done.ret.id
    assert body["data"]["order_number"] == shop.number
    [delivery] = await _deliveries(db)
    assert delivery.status == "delivered"
