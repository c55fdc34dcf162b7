"""Tracking: signed webhooks applied once, out-of-order events never move a return back,
and the scheduled refresh moves sandbox parcels along."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from litestar.testing import AsyncTestClient
from sqlmodel import func, select

from portal.app import create_app
from portal.carriers.base import TrackingStatus, TrackingUpdate
from portal.jobs.schedule import tick
from portal.models import MailMessage, ReceivedWebhook, Return
from portal.returns.shipping import apply_tracking
from tests.carriers.conftest import require_shared


async def load(db, return_id: int) -> Return:
    async with db.session() as session:
        return await session.get(Return, return_id)


def update(code: str, status: TrackingStatus, minutes: int = 0) -> TrackingUpdate:
    return TrackingUpdate(
        tracking_code=code,
        status=status,
        status_detail=status.value,
        occurred_at=datetime(2026, 11, 20, tzinfo=UTC) + timedelta(minutes=minutes),
    )


async def shipped(db, jobs, approved_return) -> Return:
    ret = await approved_return()
    await jobs.drain()
    return await load(db, ret.id)


async def test_tracking_moves_forward_only_and_tells_the_shopper(
    db, jobs, approved_return, signer
) -> None:
    ret = await shipped(db, jobs, approved_return)
    code = ret.tracking_code
    async with db.session() as session:
        assert (
            await apply_tracking(
                session, update(code, TrackingStatus.DELIVERED, 60), signer, "test"
            )
            == "delivered"
        )
    async with db.session() as session:  # a late "in transit" arrives after delivery
        assert (
            await apply_tracking(
                session, update(code, TrackingStatus.IN_TRANSIT, 10), signer, "test"
            )
            is None
        )
    async with db.session() as session:  # and the same delivery again
        assert (
            await apply_tracking(
                session, update(code, TrackingStatus.DELIVERED, 60), signer, "test"
            )
            is None
        )
    final = await load(db, ret.id)
    assert final.status == "delivered" and final.delivered_at is not None
    await jobs.drain()
    async with db.session() as session:
        templates = [m.template for m in (await session.exec(select(MailMessage))).all()]
    assert templates.count("return_delivered") == 1
    assert "return_in_transit" not in templates


async def test_unknown_tracking_codes_change_nothing(db, signer) -> None:
    async with db.session() as session:
        assert (
            await apply_tracking(session, update("NOPE", TrackingStatus.DELIVERED), signer, "test")
            is None
        )


async def test_scheduled_refresh_moves_sandbox_parcels_along(db, jobs, approved_return) -> None:
    ret = await shipped(db, jobs, approved_return)
    start = ret.updated_at
    for hours, expected in [(0, "label_issued"), (0.2, "in_transit"), (0.5, "delivered")]:
        at = start + timedelta(hours=hours)
        jobs.ctx.now = lambda at=at: at
        jobs.ctx.carrier._now = lambda at=at: at
        await tick(jobs.ctx)
        await jobs.drain()
        assert (await load(db, ret.id)).status == expected, hours


# --- the EasyPost webhook endpoint --------------------------------------------------------


@pytest.fixture
def signed_event():
    folder = require_shared()
    fixtures = json.loads((folder / "fixtures" / "client-library-fixtures.json").read_text())
    body = (folder / "fixtures" / "event-body.json").read_bytes().rstrip(b"\n")
    return body, fixtures["webhooks"]["secret"], fixtures["webhooks"]["hmac_signature"]


@pytest.fixture
async def hook_client(settings, signed_event):
    _, secret, _ = signed_event
    settings.easypost_api_key = "EZTK_test_key"
    settings.easypost_webhook_secret = secret
    async with AsyncTestClient(app=create_app(settings)) as client:
        yield client


async def stored_hooks(db) -> int:
    async with db.session() as session:
        return (await session.exec(select(func.count()).select_from(ReceivedWebhook))).one()


@pytest.mark.parametrize("header", ["X-Hmac-Signature", "x-hmac-signature", "X-HMAC-SIGNATURE"])
async def test_signed_webhook_is_accepted_once(db, hook_client, signed_event, header) -> None:
    body, _, signature = signed_event
    first = await hook_client.post("/hooks/easypost", content=body, headers={header: signature})
    assert first.status_code == 200 and first.json()["status"] == "accepted"
    again = await hook_client.post("/hooks/easypost", content=body, headers={header: signature})
    assert again.json()["status"] == "duplicate"
    assert await stored_hooks(db) == 1


@pytest.mark.parametrize("tamper", ["body", "signature", "missing"])
async def test_forged_webhooks_are_rejected_and_nothing_stored(
    db, hook_client, signed_event, tamper
) -> None:
    body, _, signature = signed_event
    headers = {"X-Hmac-Signature": signature}
    if tamper == "body":
        index = body.index(b"in_transit")
        body = body[:index] + b"delivered!" + body[index + 10 :]
    elif tamper == "signature":
        headers["X-Hmac-Signature"] = signature[:-2] + ("00" if signature[-2:] != "00" else "11")
    else:
        headers = {}
    response = await hook_client.post("/hooks/easypost", content=body, headers=headers)
    assert response.status_code == 400
    assert await stored_hooks(db) == 0


async def test_webhook_job_applies_the_event_to_its_return(
    db, jobs, approved_return, hook_client, signed_event
) -> None:
    body, _, signature = signed_event
    ret = await shipped(db, jobs, approved_return)
    event = json.loads(body)
    code = event["result"]["tracking_code"]
    async with db.session() as session:  # the parcel of this return has the event's code
        row = await session.get(Return, ret.id)
        row.tracking_code = code
        session.add(row)
        await session.commit()
    response = await hook_client.post(
        "/hooks/easypost", content=body, headers={"X-Hmac-Signature": signature}
    )
    assert response.status_code == 200
    await jobs.drain()
    moved = await load(db, ret.id)
    assert event["result"]["status"] == "in_transit"
    assert moved.status == "in_transit" and moved.tracking_status == "in_transit"
    async with db.session() as session:
        hook = (await session.exec(select(ReceivedWebhook))).one()
    assert hook.processed_at is not None
