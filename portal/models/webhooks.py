"""Store webhooks: the endpoints a store registers, and every event delivered to them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from portal.models.base import (
    check_table,
    created_at_field,
    json_field,
    one_of,
    state_field,
    time_field,
)


class DeliveryState(StrEnum):
    """One webhook delivery; the moves are ``DELIVERY_TRANSITIONS``, made by
    ``portal.webhook_states``."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


DELIVERY_TRANSITIONS: Mapping[DeliveryState, frozenset[DeliveryState]] = {
    DeliveryState.PENDING: frozenset({DeliveryState.DELIVERED, DeliveryState.FAILED}),
    DeliveryState.DELIVERED: frozenset({DeliveryState.PENDING}),  # resent by staff
    DeliveryState.FAILED: frozenset({DeliveryState.PENDING, DeliveryState.DELIVERED}),
}
check_table(DeliveryState, DELIVERY_TRANSITIONS)
DELIVERY_STATUSES = tuple(DeliveryState)


class WebhookEndpoint(SQLModel, table=True):
    """A URL of the store's that receives signed events; the secret is needed to sign them."""

    __tablename__ = "webhook_endpoints"

    id: int | None = Field(default=None, primary_key=True)
    url: str = Field(max_length=2000)
    description: str = Field(default="", max_length=200)
    secret: str = Field(max_length=100)
    events: list[str] = json_field(list)
    active: bool = True
    created_at: datetime = created_at_field()
    created_by: str = Field(max_length=320)


class WebhookDelivery(SQLModel, table=True):
    """One event for one endpoint; the (endpoint, event id) pair is unique so it is sent once."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        one_of("status", DELIVERY_STATUSES, "status_known"),
        sa.UniqueConstraint("endpoint_id", "event_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    endpoint_id: int = Field(foreign_key="webhook_endpoints.id", index=True)
    event: str = Field(max_length=40)
    event_id: str = Field(max_length=64)
    payload: dict[str, Any] = json_field(dict)
    status: DeliveryState = state_field(DeliveryState.PENDING, 10)
    attempts: int = 0
    last_status_code: int | None = None
    last_error: str | None = Field(default=None, max_length=1000)
    created_at: datetime = created_at_field()
    delivered_at: datetime | None = time_field()
