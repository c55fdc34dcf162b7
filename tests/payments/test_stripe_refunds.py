"""Stripe refunds against localstripe on loopback: exactly once, same key on every retry,
webhooks before the API response, signature checks. localstripe ignores idempotency keys,
so the key sent is asserted through the recording HTTP client, and totals on our ledger."""

from __future__ import annotations

import asyncio
import json

import pytest
from litestar.testing import AsyncTestClient
from sqlmodel import select

from portal.app import create_app
from portal.models.audit import AuditEvent
from portal.models.money import Refund
from portal.models.outbox import OutboxMessage, ReceivedWebhook
from portal.money.payouts import RefundInFlight, issue
from portal.money.reports import reconcile
from portal.payments import PaymentsError
from tests.money.fixtures import load_refund, refund_events, stripe_payments
from tests.support.localstripe_server import (
    Recorder,
    localstripe,
    paid_intent,
    refunds_on,
    signed_event,
)

SECRET = "whsec_portal_test"


async def _succeeded_events(db, refund_id: int) -> int:
    return (await refund_events(db, refund_id)).count("succeeded")


async def test_an_auto_approved_refund_is_paid_once_with_our_key(
    db, make_refund, stripe_base
) -> None:
    intent = paid_intent(stripe_base, 5000)
    refund_id = await make_refund(1200, auto=True, payment_reference=intent)
    recorder = Recorder()
    payments = stripe_payments(stripe_base, recorder)
    assert await issue(db, payments, refund_id) == "succeeded"
    assert await issue(db, payments, refund_id) == "succeeded"  # run twice: nothing more
    refund = await load_refund(db, refund_id)
    creates = recorder.refund_creates()
    assert len(creates) == 1
    assert creates[0].idempotency_key == refund.idempotency_key
    assert "amount=1200" in creates[0].body
    at_stripe = refunds_on(stripe_base, intent)
    assert [(r["id"], r["amount"]) for r in at_stripe] == [(refund.provider_reference, 1200)]
    assert await _succeeded_events(db, refund_id) == 1


async def test_a_lost_response_then_a_retry_pays_once(db, make_refund, stripe_base) -> None:
    intent = paid_intent(stripe_base, 5000)
    refund_id = await make_refund(2000, auto=True, payment_reference=intent)
    recorder = Recorder(lose_next=1)
    payments = stripe_payments(stripe_base, recorder)
    with pytest.raises(PaymentsError) as lost:
        await issue(db, payments, refund_id)
    assert lost.value.retryable
    assert (await load_refund(db, refund_id)).status == "processing"
    assert await issue(db, payments, refund_id) == "succeeded"
    refund = await load_refund(db, refund_id)
    # Stripe received the refund once; the retry found it (our id in its metadata).
    at_stripe = refunds_on(stripe_base, intent)
    assert [(r["id"], r["amount"]) for r in at_stripe] == [(refund.provider_reference, 2000)]
    assert {c.idempotency_key for c in recorder.refund_creates()} == {refund.idempotency_key}
    assert await _succeeded_events(db, refund_id) == 1


async def test_every_retry_sends_the_same_idempotency_key(db, make_refund, stripe_base) -> None:
    """Connection trouble before Stripe answered, three times: the key never changes."""
    intent = paid_intent(stripe_base, 5000)
    refund_id = await make_refund(1500, auto=True, payment_reference=intent)
    bad = stripe_payments("http://127.0.0.1:9", Recorder())  # nothing listens there
    for _ in range(3):
        with pytest.raises(PaymentsError) as exc:
            await issue(db, bad, refund_id)
        assert exc.value.retryable
    recorder = Recorder()
    assert await issue(db, stripe_payments(stripe_base, recorder), refund_id) == "succeeded"
    refund = await load_refund(db, refund_id)
    keys = {c.idempotency_key for c in bad.client._requestor._client.sent if c.method == "POST"}  # type: ignore[attr-defined]
    keys |= {c.idempotency_key for c in recorder.refund_creates()}
    assert keys == {refund.idempotency_key}
    assert refund.attempts == 4
    assert len(refunds_on(stripe_base, intent)) == 1


async def test_a_definite_refusal_fails_visibly_and_is_not_retried(
    db, make_refund, stripe_base
) -> None:
    refund_id = await make_refund(1000, auto=True, payment_reference="pi_doesnotexist")
    assert await issue(db, stripe_payments(stripe_base, Recorder()), refund_id) == "failed"
    refund = await load_refund(db, refund_id)
    assert refund.failure_reason and "Stripe" in refund.failure_reason


async def test_a_second_worker_does_not_call_stripe_while_the_first_is_calling(
    db, make_refund, stripe_base
) -> None:
    intent = paid_intent(stripe_base, 5000)
    refund_id = await make_refund(1000, auto=True, payment_reference=intent)
    recorder = Recorder()
    payments = stripe_payments(stripe_base, recorder)
    loop = asyncio.get_running_loop()
    outcomes: list[object] = []

    def meanwhile(body: str, status: int) -> None:
        async def second() -> None:
            try:
                outcomes.append(await issue(db, payments, refund_id))
            except RefundInFlight as exc:
                outcomes.append(exc)

        asyncio.run_coroutine_threadsafe(second(), loop).result(timeout=30)

    recorder.before_response = meanwhile
    assert await issue(db, payments, refund_id) == "succeeded"
    assert isinstance(outcomes[0], RefundInFlight)
    assert len(recorder.refund_creates()) == 1


async def test_a_webhook_before_the_api_response_does_not_double_count(
    db, settings, make_refund, stripe_base
) -> None:
    intent = paid_intent(stripe_base, 5000)
    refund_id = await make_refund(3000, auto=True, payment_reference=intent)
    app_settings = settings.model_copy(
        update={
            "stripe_api_key": "sk_test_portal",
            "stripe_webhook_secret": SECRET,
            "stripe_api_base": stripe_base,
        }
    )
    app = create_app(app_settings)
    recorder = Recorder()
    payments = stripe_payments(stripe_base, recorder, SECRET)
    from portal.composition import build_context
    from portal.jobs.runner import InProcessRunner

    runner = InProcessRunner(build_context(app_settings, db, payments=payments))
    loop = asyncio.get_running_loop()
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:

        def webhook_first(body: str, status: int) -> None:
            refund_obj = json.loads(body)
            event = json.dumps(
                {
                    "id": "evt_early_1",
                    "object": "event",
                    "type": "refund.created",
                    "data": {"object": refund_obj},
                }
            )

            async def deliver() -> None:
                for _ in range(2):  # Stripe re-delivers; the second is a duplicate
                    response = await client.post(
                        "/hooks/stripe", content=event, headers=signed_event(SECRET, event)
                    )
                    assert response.status_code == 200, response.text
                # only the webhook job exists so far (the issue call is still in flight)
                await runner.drain()
                assert (await load_refund(db, refund_id)).status == "succeeded"

            asyncio.run_coroutine_threadsafe(deliver(), loop).result(timeout=30)

        recorder.before_response = webhook_first
        assert await issue(db, payments, refund_id) == "succeeded"
        bad = await client.post(
            "/hooks/stripe", content=b"{}", headers={"Stripe-Signature": "t=1,v1=00"}
        )
        assert bad.status_code == 400
    await runner.stop()
    assert await _succeeded_events(db, refund_id) == 1
    async with db.session() as session:
        hooks = (await session.exec(select(ReceivedWebhook))).all()
        emails = (
            await session.exec(
                select(OutboxMessage).where(
                    OutboxMessage.dedupe_key.like("email:return_refunded:%")
                )
            )
        ).all()
        actors = (
            await session.exec(
                select(AuditEvent.actor).where(
                    AuditEvent.entity_id == refund_id,
                    AuditEvent.action == "succeeded",
                    AuditEvent.entity_type == "refund",
                )
            )
        ).all()
    assert len(hooks) == 1 and hooks[0].processed_at is not None
    assert len(emails) == 1
    assert actors == ["provider:stripe"]
    assert len(refunds_on(stripe_base, intent)) == 1


async def test_reconciliation_lists_every_difference(db, make_refund, tmp_path) -> None:
    """On a Stripe of its own: reconciliation compares with everything Stripe holds."""
    with localstripe(tmp_path) as base:
        if base is None:
            pytest.skip("localstripe is not installed")
        intent = paid_intent(base, 5000)
        refund_id = await make_refund(1100, auto=True, payment_reference=intent)
        payments = stripe_payments(base, Recorder())
        await issue(db, payments, refund_id)
        async with db.session() as session:
            assert await reconcile(session, payments) == []
        # A refund made in Stripe's dashboard, unknown to us:
        payments.client.v1.refunds.create(params={"payment_intent": intent, "amount": 100})
        async with db.session() as session:
            mine = await session.get(Refund, refund_id)
            mine.amount = 1000  # our record drifted
            session.add(mine)
            await session.commit()
            differences = await reconcile(session, payments)
    problems = sorted((d.problem, d.refund_id) for d in differences)
    assert problems == [("amount differs", refund_id), ("unknown at the portal", None)]


async def test_a_failure_webhook_ends_the_refund_failed_with_the_reason(
    db, settings, jobs, make_refund, stripe_base
) -> None:
    intent = paid_intent(stripe_base, 5000)
    refund_id = await make_refund(900, auto=True, payment_reference=intent)
    with pytest.raises(PaymentsError):  # the response is lost: we do not know yet
        await issue(db, stripe_payments(stripe_base, Recorder(lose_next=1)), refund_id)
    app = create_app(
        settings.model_copy(
            update={
                "stripe_api_key": "sk_test_portal",
                "stripe_webhook_secret": SECRET,
                "stripe_api_base": stripe_base,
            }
        )
    )
    refund_obj = {
        "id": "re_failed_1",
        "object": "refund",
        "status": "failed",
        "amount": 900,
        "currency": "usd",
        "failure_reason": "expired_or_canceled_card",
        "metadata": {"portal_refund_id": str(refund_id)},
    }
    event = json.dumps(
        {
            "id": "evt_failed_1",
            "object": "event",
            "type": "refund.failed",
            "data": {
                "object": {"object": "charge", "id": "ch_1", "refunds": {"data": [refund_obj]}}
            },
        }
    )
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        response = await client.post(
            "/hooks/stripe", content=event, headers=signed_event(SECRET, event)
        )
        assert response.json() == {"status": "accepted"}
    await jobs.drain()
    refund = await load_refund(db, refund_id)
    assert (refund.status, refund.failure_reason) == ("failed", "expired_or_canceled_card")
    assert "failed" in await refund_events(db, refund_id)
