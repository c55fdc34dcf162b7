"""Issue 18, finding 11: a correctly signed Stripe event dated in the future is refused."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

from litestar.testing import AsyncTestClient
from sqlmodel import func, select

from portal.app import create_app
from portal.models.outbox import ReceivedWebhook

SECRET = "whsec_portal_clock"
EVENT = json.dumps(
    {
        "id": "evt_clock_1",
        "object": "event",
        "type": "refund.updated",
        "data": {
            "object": {
                "id": "re_clock_1",
                "object": "refund",
                "status": "succeeded",
                "amount": 1200,
                "currency": "usd",
            }
        },
    }
)


def _signed(ts: int) -> dict[str, str]:
    sig = hmac.new(SECRET.encode(), f"{ts}.{EVENT}".encode(), hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={ts},v1={sig}", "Content-Type": "application/json"}


async def _stored(db) -> int:
    async with db.session() as session:
        return (await session.exec(select(func.count()).select_from(ReceivedWebhook))).one()


async def test_a_signed_event_from_ten_minutes_ahead_is_refused(db, settings) -> None:
    app_settings = settings.model_copy(
        update={"stripe_api_key": "sk_test_portal", "stripe_webhook_secret": SECRET}
    )
    async with AsyncTestClient(app=create_app(app_settings)) as client:
        ahead = await client.post(
            "/hooks/stripe", content=EVENT, headers=_signed(int(time.time()) + 600)
        )
        assert ahead.status_code == 400
        assert "in the future" in ahead.json()["detail"]
        far = await client.post("/hooks/stripe", content=EVENT, headers=_signed(10**40))
        assert far.status_code == 400
        assert await _stored(db) == 0
        # The same event signed now is accepted (clock skew of a few seconds is fine).
        now = await client.post(
            "/hooks/stripe", content=EVENT, headers=_signed(int(time.time()) + 5)
        )
        assert now.status_code == 200 and now.json()["status"] == "accepted"
        assert await _stored(db) == 1
