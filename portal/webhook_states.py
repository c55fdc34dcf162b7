"""The webhook delivery state machine (``DeliveryState``, ``DELIVERY_TRANSITIONS`` in
``portal.models.webhooks``) and its named moves.

``pending → delivered``, or ``failed`` (out of tries, refused, or the endpoint disabled);
staff may resend any delivery (``pending`` again). A failed attempt with tries left
stays ``pending`` with its error recorded.

Each move is a compare-and-set on the delivery's status. Delivery attempts write no audit
event (every event to every endpoint would flood the audit log; the delivery row keeps
``attempts``, ``last_status_code`` and ``last_error``); a resend by staff is audited.
Nothing here commits.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from portal.models.webhooks import DELIVERY_TRANSITIONS, DeliveryState, WebhookDelivery
from portal.states import Machine

DELIVERIES = Machine(
    DeliveryState, DELIVERY_TRANSITIONS, WebhookDelivery, "status", "webhook_delivery"
)


async def _attempted(
    session: AsyncSession, delivery: WebhookDelivery, to: DeliveryState, values: dict[str, Any]
) -> None:
    current = DELIVERIES.state_of(delivery)
    await DELIVERIES.move(
        session,
        delivery,
        to,
        values=values,
        allowed=DELIVERY_TRANSITIONS[current] | {current},  # a failed retry stays where it is
        audit=False,
    )


async def delivered(
    session: AsyncSession, delivery: WebhookDelivery, *, status_code: int | None, at: datetime
) -> None:
    """The endpoint answered 2xx."""
    await _attempted(
        session,
        delivery,
        DeliveryState.DELIVERED,
        {
            "attempts": delivery.attempts + 1,
            "last_status_code": status_code,
            "delivered_at": at,
            "last_error": None,
        },
    )


async def attempt_failed(
    session: AsyncSession,
    delivery: WebhookDelivery,
    error: str,
    *,
    status_code: int | None,
    final: bool,
) -> None:
    """The POST failed: ``failed`` when ``final`` (out of tries, refused), else it stays
    ``pending`` for the outbox's next try."""
    await _attempted(
        session,
        delivery,
        DeliveryState.FAILED if final else DeliveryState.PENDING,
        {
            "attempts": delivery.attempts + 1,
            "last_status_code": status_code,
            "last_error": error[:1000],
        },
    )


async def not_sent(session: AsyncSession, delivery: WebhookDelivery, why: str) -> None:
    """Given up without an attempt (the endpoint is disabled): ``failed``."""
    await _attempted(session, delivery, DeliveryState.FAILED, {"last_error": why[:1000]})


async def resend(session: AsyncSession, delivery: WebhookDelivery, actor: str) -> None:
    """Staff send it again, same event id and body: ``pending`` (audited as ``resent``)."""
    current = DELIVERIES.state_of(delivery)
    await DELIVERIES.move(
        session,
        delivery,
        DeliveryState.PENDING,
        actor=actor,
        action="resent",
        data={"event": delivery.event, "event_id": delivery.event_id},
        allowed=DELIVERY_TRANSITIONS[current] | {current},
    )
