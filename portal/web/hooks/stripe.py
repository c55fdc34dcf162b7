"""``POST /hooks/stripe``: verify with the SDK, store the event once, settle in a job."""

from __future__ import annotations

import dataclasses
from typing import Any

from litestar import Request, Response, post

from portal.integrations import make_payments
from portal.jobs.names import Job
from portal.jobs.outbox import accept_webhook
from portal.payments import WebhookInvalid
from portal.web.deps import DbSession


@post("/stripe", summary="Stripe refund events (Stripe-Signature verified)")
async def stripe_webhook(request: Request[Any, Any, Any], db_session: DbSession) -> Response[Any]:
    body = await request.body()
    payments = getattr(request.app.state, "payments", None) or make_payments(
        request.app.state.settings
    )
    try:
        event = payments.parse_webhook(body, request.headers)
    except WebhookInvalid as exc:
        return Response({"detail": str(exc)}, status_code=400)
    if not event.refunds:
        return Response({"status": "ignored"}, status_code=200)
    accepted = await accept_webhook(
        db_session,
        provider="stripe",
        event_id=event.event_id,
        event_type=event.event_type,
        payload={"refunds": [dataclasses.asdict(r) for r in event.refunds]},
        job=Job.APPLY_STRIPE_EVENT,
    )
    if not accepted:
        return Response({"status": "duplicate"}, status_code=200)
    runner = request.app.state.runner
    if runner is not None:
        runner.wake()
    return Response({"status": "accepted"}, status_code=200)
