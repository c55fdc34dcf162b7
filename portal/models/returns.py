"""Returns (RMAs), their lines, and exchanges reserved against stock."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from portal.models.base import created_at_field, json_field, one_of, time_field

RETURN_STATUSES = (
    "requested",
    "approved",
    "label_issued",
    "in_transit",
    "delivered",
    "received",
    "inspected",
    "completed",
    "rejected",
    "cancelled",
    "expired",
)
RESOLUTIONS = ("exchange", "store_credit", "refund", "keep_item")
LABEL_STATES = ("none", "pending", "ready", "failed", "voided")
CONDITIONS = ("as_new", "opened", "used", "damaged", "wrong_item", "missing")
DISPOSITIONS = ("restock", "refurbish", "dispose", "return_to_shopper")
EXCHANGE_STATUSES = ("reserved", "released", "shipped", "cancelled")


class Return(SQLModel, table=True):
    """A return merchandise authorisation; its request and decision are frozen at creation."""

    __tablename__ = "returns"
    __table_args__ = (
        one_of("status", RETURN_STATUSES, "status_known"),
        one_of("label_state", LABEL_STATES, "label_state_known"),
        sa.CheckConstraint(
            "refund_total >= 0 AND store_credit_total >= 0 AND label_fee >= 0",
            name="amounts_not_negative",
        ),
        sa.Index("ix_returns_status_created", "status", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    rma: str = Field(max_length=32, unique=True)
    order_id: int = Field(foreign_key="orders.id", index=True)
    status: str = Field(default="requested", max_length=20)
    policy_version_id: int | None = Field(default=None, foreign_key="policy_versions.id")
    submission_key: str = Field(max_length=64, unique=True)
    request: dict[str, Any] = json_field(dict)
    decision: dict[str, Any] = json_field(dict)
    currency: str = Field(max_length=3)
    refund_total: int = 0
    store_credit_total: int = 0
    label_fee: int = 0
    needs_approval: bool = False
    require_review: bool = False
    destination: str = Field(default="", max_length=64)
    label_state: str = Field(default="none", max_length=10)
    label_error: str | None = Field(default=None, max_length=1000)
    carrier: str | None = Field(default=None, max_length=40)
    service: str | None = Field(default=None, max_length=80)
    tracking_code: str | None = Field(default=None, max_length=64, index=True)
    shipment_id: str | None = Field(default=None, max_length=64)
    tracker_id: str | None = Field(default=None, max_length=64)
    label_cost: int | None = None
    label_path: str | None = Field(default=None, max_length=300)
    slip_path: str | None = Field(default=None, max_length=300)
    tracking_status: str | None = Field(default=None, max_length=40)
    version: int = 1
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()
    approved_at: datetime | None = time_field()
    shipped_at: datetime | None = time_field()
    delivered_at: datetime | None = time_field()
    received_at: datetime | None = time_field()
    inspected_at: datetime | None = time_field()
    completed_at: datetime | None = time_field()
    closed_at: datetime | None = time_field()
    ship_by: datetime | None = time_field()


class ReturnLine(SQLModel, table=True):
    __tablename__ = "return_lines"
    __table_args__ = (
        sa.UniqueConstraint("return_id", "order_line_id"),
        sa.CheckConstraint("quantity > 0", name="quantity_positive"),
        sa.CheckConstraint(
            "refund_amount >= 0 AND store_credit_amount >= 0 AND restocking_fee >= 0",
            name="amounts_not_negative",
        ),
        sa.CheckConstraint(
            "received_quantity IS NULL OR (received_quantity >= 0 AND received_quantity <= quantity)",
            name="received_within_requested",
        ),
        one_of("resolution", RESOLUTIONS, "resolution_known"),
        sa.CheckConstraint(
            "condition IS NULL OR condition IN (" + ", ".join(f"'{c}'" for c in CONDITIONS) + ")",
            name="condition_known",
        ),
        sa.CheckConstraint(
            "disposition IS NULL OR disposition IN ("
            + ", ".join(f"'{d}'" for d in DISPOSITIONS)
            + ")",
            name="disposition_known",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    return_id: int = Field(foreign_key="returns.id", index=True)
    order_line_id: int = Field(foreign_key="order_lines.id", index=True)
    quantity: int
    reason_code: str = Field(max_length=64)
    comment: str = Field(default="", max_length=2000)
    resolution: str = Field(max_length=20)
    refund_amount: int = 0
    store_credit_amount: int = 0
    restocking_fee: int = 0
    decision: dict[str, Any] = json_field(dict)
    photo_media_id: int | None = Field(default=None, foreign_key="media.id")
    received_quantity: int | None = None
    condition: str | None = Field(default=None, max_length=20)
    accepted: bool | None = None
    inspection_note: str = Field(default="", max_length=2000)
    disposition: str | None = Field(default=None, max_length=20)
    graded_by: int | None = Field(default=None, foreign_key="staff_users.id")
    graded_at: datetime | None = time_field(index=True)  # the warehouse's daily counts


class Exchange(SQLModel, table=True):
    """A replacement variant held from stock while the original comes back."""

    __tablename__ = "exchanges"
    __table_args__ = (
        sa.CheckConstraint("quantity > 0", name="quantity_positive"),
        one_of("status", EXCHANGE_STATUSES, "status_known"),
    )

    id: int | None = Field(default=None, primary_key=True)
    return_line_id: int = Field(foreign_key="return_lines.id", unique=True)
    variant_id: int = Field(foreign_key="variants.id", index=True)
    quantity: int
    price_difference: int = 0
    status: str = Field(default="reserved", max_length=20)
    payment_reference: str | None = Field(default=None, max_length=255)
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()
