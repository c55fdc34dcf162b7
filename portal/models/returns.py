"""Returns (RMAs), their lines, and exchanges reserved against stock."""

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


class ReturnStatus(StrEnum):
    """Where a return stands; the moves are ``RETURN_TRANSITIONS``, made by
    ``portal.returns.states``."""

    REQUESTED = "requested"
    APPROVED = "approved"
    LABEL_ISSUED = "label_issued"
    IN_TRANSIT = "in_transit"
    DELIVERED = "delivered"
    RECEIVED = "received"
    INSPECTED = "inspected"
    COMPLETED = "completed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


_R = ReturnStatus
RETURN_TRANSITIONS: Mapping[ReturnStatus, frozenset[ReturnStatus]] = {
    _R.REQUESTED: frozenset({_R.APPROVED, _R.REJECTED, _R.CANCELLED, _R.EXPIRED}),
    # approved → completed only when the shopper keeps every item (nothing ships back)
    _R.APPROVED: frozenset({_R.LABEL_ISSUED, _R.COMPLETED, _R.CANCELLED, _R.EXPIRED}),
    # a parcel may be received before the carrier reports it moving or delivered
    _R.LABEL_ISSUED: frozenset(
        {_R.IN_TRANSIT, _R.DELIVERED, _R.RECEIVED, _R.CANCELLED, _R.EXPIRED}
    ),
    _R.IN_TRANSIT: frozenset({_R.DELIVERED, _R.RECEIVED}),
    _R.DELIVERED: frozenset({_R.RECEIVED}),
    _R.RECEIVED: frozenset({_R.INSPECTED}),
    _R.INSPECTED: frozenset({_R.COMPLETED}),
    _R.COMPLETED: frozenset(),
    _R.REJECTED: frozenset(),
    _R.CANCELLED: frozenset(),
    _R.EXPIRED: frozenset(),
}
RETURN_UNDO: Mapping[ReturnStatus, frozenset[ReturnStatus]] = {
    _R.RECEIVED: frozenset({_R.LABEL_ISSUED, _R.IN_TRANSIT, _R.DELIVERED}),
}
"""Backward moves, made only by ``undo_receipt`` (a wrong scan goes back to where it was);
never by tracking, which only moves a return forward along ``RETURN_TRANSITIONS``."""

RETURN_STATUSES = tuple(ReturnStatus)
RETURN_CLOSED = frozenset({_R.COMPLETED, _R.REJECTED, _R.CANCELLED, _R.EXPIRED})
"""Final: nothing moves a closed return again (``closed_at`` is set)."""
RETURN_CLOSED_WITHOUT_RESOLUTION = frozenset({_R.REJECTED, _R.CANCELLED, _R.EXPIRED})
"""Closed with nothing given back: not counted as a return in the figures."""
RETURN_CANCELLABLE = frozenset({_R.REQUESTED, _R.APPROVED, _R.LABEL_ISSUED})
"""Not yet handed to the carrier: the shopper may still change their mind."""
RETURN_EXPIRABLE = frozenset({_R.APPROVED, _R.LABEL_ISSUED})
"""Approved but never shipped: expires when its ship-by date passes."""
RETURN_AWAITING_PARCEL = (_R.LABEL_ISSUED, _R.IN_TRANSIT, _R.DELIVERED)
"""The label is out and the parcel is expected at the warehouse (it may be received)."""
RETURN_TRACKED = (_R.LABEL_ISSUED, _R.IN_TRANSIT)
"""The carrier has news to give: tracking is polled."""
RETURN_AFTER_RECEIPT = frozenset({_R.RECEIVED, _R.INSPECTED, _R.COMPLETED})
"""The parcel reached the warehouse."""
RETURN_PROGRESS = (
    _R.REQUESTED,
    _R.APPROVED,
    _R.LABEL_ISSUED,
    _R.IN_TRANSIT,
    _R.DELIVERED,
    _R.RECEIVED,
    _R.INSPECTED,
    _R.COMPLETED,
)
"""The way forward, in order; a return only ever moves to a later one (but ``undo_receipt``)."""

RESOLUTIONS = ("exchange", "store_credit", "refund", "keep_item")


class LabelState(StrEnum):
    """The prepaid label of a return; the moves are ``LABEL_TRANSITIONS``."""

    NONE = "none"
    PENDING = "pending"
    READY = "ready"
    FAILED = "failed"
    VOIDED = "voided"


LABEL_TRANSITIONS: Mapping[LabelState, frozenset[LabelState]] = {
    LabelState.NONE: frozenset({LabelState.PENDING}),
    # voided while pending: the label was bought as the return closed, and is given back
    LabelState.PENDING: frozenset({LabelState.READY, LabelState.FAILED, LabelState.VOIDED}),
    LabelState.FAILED: frozenset({LabelState.PENDING}),
    LabelState.READY: frozenset({LabelState.VOIDED}),
    LabelState.VOIDED: frozenset(),
}
LABEL_STATES = tuple(LabelState)

CONDITIONS = ("as_new", "opened", "used", "damaged", "wrong_item", "missing")
DISPOSITIONS = ("restock", "refurbish", "dispose", "return_to_shopper")


class ExchangeStatus(StrEnum):
    """A replacement held from stock; the moves are ``EXCHANGE_TRANSITIONS``."""

    RESERVED = "reserved"
    RELEASED = "released"
    SHIPPED = "shipped"
    CANCELLED = "cancelled"


EXCHANGE_TRANSITIONS: Mapping[ExchangeStatus, frozenset[ExchangeStatus]] = {
    ExchangeStatus.RESERVED: frozenset({ExchangeStatus.RELEASED, ExchangeStatus.CANCELLED}),
    ExchangeStatus.RELEASED: frozenset({ExchangeStatus.SHIPPED}),
    ExchangeStatus.SHIPPED: frozenset(),
    ExchangeStatus.CANCELLED: frozenset(),
}
EXCHANGE_STATUSES = tuple(ExchangeStatus)
EXCHANGE_LIVE = frozenset(
    {ExchangeStatus.RESERVED, ExchangeStatus.RELEASED, ExchangeStatus.SHIPPED}
)
"""Not cancelled: the shopper gets (or got) the replacement."""

check_table(ReturnStatus, RETURN_TRANSITIONS)
check_table(LabelState, LABEL_TRANSITIONS)
check_table(ExchangeStatus, EXCHANGE_TRANSITIONS)


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
    status: ReturnStatus = state_field(ReturnStatus.REQUESTED, 20)
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
    label_state: LabelState = state_field(LabelState.NONE, 10)
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
    status: ExchangeStatus = state_field(ExchangeStatus.RESERVED, 20)
    payment_reference: str | None = Field(default=None, max_length=255)
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()
