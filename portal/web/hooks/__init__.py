"""Provider webhooks (``/hooks/...``): verify, store once, answer fast, work in a job."""

from __future__ import annotations

import json
from typing import Any

from litestar import Request, Response, Router, post
from litestar.di import Provide

from portal.carriers.base import CarrierError, WebhookSignatureInvalid
from portal.jobs.names import Job
from portal.jobs.outbox import accept_webhook
from portal.returns.jobs import tracking_update_to_json
from portal.web.deps import DbSession, provide_session
from portal.web.hooks.stripe import stripe_webhook


@post("/easypost", summary="EasyPost tracker events (X-Hmac-Signature verified)")
async def easypost_webhook(request: Request[Any, Any, Any], db_session: DbSession) -> Response[Any]:
    body = await request.body()
    carrier = request.app.state.carrier
    try:
        update = carrier.parse_webhook(body, request.headers)
    except WebhookSignatureInvalid:
        return Response({"detail": "The webhook signature does not match."}, status_code=400)
    except (CarrierError, ValueError, KeyError) as exc:
        return Response({"detail": f"The webhook body could not be read: {exc}"}, status_code=400)
    if update is None:
        return Response({"status": "ignored"}, status_code=200)
    event = json.loads(body)
    event_id = str(event.get("id") or f"{update.tracking_code}:{update.occurred_at.isoformat()}")
    accepted = await accept_webhook(
        db_session,
        provider="easypost",
        event_id=event_id,
        event_type=str(event.get("description", "")),
        payload={"update": tracking_update_to_json(update)},
        job=Job.APPLY_TRACKING_EVENT,
    )
    if not accepted:
        return Response({"status": "duplicate"}, status_code=200)
    wake_runner(request)
    return Response({"status": "accepted"}, status_code=200)


def wake_runner(request: Request[Any, Any, Any]) -> None:
    """In the embedded default, run the queued job now rather than at the next poll."""
    runner = request.app.state.runner
    if runner is not None:
        runner.wake()


hooks_router = Router(
    path="/hooks",
    route_handlers=[easypost_webhook, stripe_webhook],
    dependencies={"db_session": Provide(provide_session)},
    tags=["webhooks"],
)
