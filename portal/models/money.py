"""Refunds with their approvals, and the store-credit ledger (a balance is always a sum)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from portal.models.base import check_table, created_at_field, one_of, state_field, time_field


class RefundStatus(StrEnum):
    """Money going back; the moves are ``REFUND_TRANSITIONS``, made by
    ``portal.money.refund_states``."""

    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REJECTED = "rejected"


_F = RefundStatus
REFUND_TRANSITIONS: Mapping[RefundStatus, frozenset[RefundStatus]] = {
    _F.PENDING_APPROVAL: frozenset({_F.APPROVED, _F.REJECTED}),
    # approved → failed: the refund would pay back more than is still refundable
    _F.APPROVED: frozenset({_F.PROCESSING, _F.FAILED}),
    _F.PROCESSING: frozenset({_F.SUCCEEDED, _F.FAILED}),
    _F.SUCCEEDED: frozenset(),
    _F.FAILED: frozenset(),  # a retry is a new refund (new idempotency key)
    _F.REJECTED: frozenset(),
}
check_table(RefundStatus, REFUND_TRANSITIONS)

REFUND_STATUSES = tuple(RefundStatus)
REFUND_CLOSED = frozenset({_F.SUCCEEDED, _F.FAILED, _F.REJECTED})
"""Decided for good: a provider's later word changes nothing."""
LIVE_REFUND_STATUSES = (_F.PENDING_APPROVAL, _F.APPROVED, _F.PROCESSING, _F.SUCCEEDED)
"""Counted against what is still refundable (at most one live refund per return and purpose)."""
REFUND_IN_FLIGHT = (_F.PENDING_APPROVAL, _F.APPROVED, _F.PROCESSING)
"""Not decided yet: the return waits for it before it completes."""
REFUND_UNDECIDED = (_F.PENDING_APPROVAL, _F.APPROVED)
"""No money has moved and no provider was called."""
REFUND_PAYABLE = (_F.APPROVED, _F.PROCESSING)
"""Being paid: the payout job or the provider's answer settles it."""
REFUND_PURPOSES = ("return", "exchange_difference")
CREDIT_ENTRY_KINDS = ("issue", "bonus", "redeem", "expire", "reverse")


_LIVE = f"status <> '{_F.FAILED}' AND status <> '{_F.REJECTED}'"


class Refund(SQLModel, table=True):
    """Money going back to the shopper. One live refund per return and purpose, enforced in SQL."""

    __tablename__ = "refunds"
    __table_args__ = (
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        one_of("status", REFUND_STATUSES, "status_known"),
        one_of("purpose", REFUND_PURPOSES, "purpose_known"),
        sa.Index(
            "uq_refunds_one_live_per_return",
            "return_id",
            "purpose",
            unique=True,
            sqlite_where=sa.text(_LIVE),
            postgresql_where=sa.text(_LIVE),
        ),
        sa.Index("ix_refunds_status_due", "status", "due_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    return_id: int = Field(foreign_key="returns.id", index=True)
    purpose: str = Field(default="return", max_length=24)
    amount: int
    currency: str = Field(max_length=3)
    status: RefundStatus = state_field(RefundStatus.PENDING_APPROVAL, 20)
    provider: str = Field(default="manual", max_length=20)
    provider_reference: str | None = Field(default=None, max_length=255, index=True)
    idempotency_key: str = Field(max_length=64, unique=True)
    auto_approved: bool = False
    rejection_reason: str | None = Field(default=None, max_length=1000)
    failure_reason: str | None = Field(default=None, max_length=1000)
    due_at: datetime | None = time_field()
    escalated_at: datetime | None = time_field()
    created_at: datetime = created_at_field()
    decided_at: datetime | None = time_field()
    completed_at: datetime | None = time_field()
    attempts: int = 0
    claimed_until: datetime | None = time_field()
    """The lease of the worker calling the provider now (never two at once)."""


class RefundApproval(SQLModel, table=True):
    """One person's approval; four-eyes refunds need two rows from different people."""

    __tablename__ = "refund_approvals"
    __table_args__ = (sa.UniqueConstraint("refund_id", "user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    refund_id: int = Field(foreign_key="refunds.id", index=True)
    user_id: int = Field(foreign_key="staff_users.id")
    created_at: datetime = created_at_field()


class StoreCreditCode(SQLModel, table=True):
    __tablename__ = "store_credit_codes"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=40, unique=True)
    customer_id: int | None = Field(default=None, foreign_key="customers.id", index=True)
    currency: str = Field(max_length=3)
    expires_at: datetime | None = time_field()
    disabled: bool = False
    created_at: datetime = created_at_field()


class StoreCreditEntry(SQLModel, table=True):
    """An append-only ledger row; issue and bonus add, redeem/expire/reverse subtract."""

    __tablename__ = "store_credit_entries"
    __table_args__ = (
        one_of("kind", CREDIT_ENTRY_KINDS, "kind_known"),
        sa.CheckConstraint(
            "(kind IN ('issue', 'bonus') AND amount > 0)"
            " OR (kind IN ('redeem', 'expire', 'reverse') AND amount < 0)",
            name="sign_matches_kind",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    code_id: int = Field(foreign_key="store_credit_codes.id", index=True)
    kind: str = Field(max_length=10)
    amount: int
    return_id: int | None = Field(default=None, foreign_key="returns.id", index=True)
    idempotency_key: str | None = Field(default=None, max_length=120, unique=True)
    note: str = Field(default="", max_length=500)
    created_at: datetime = created_at_field()
    created_by: str = Field(default="system", max_length=120)
    expires_at: datetime | None = time_field()
