"""Side effects waiting to happen, received webhooks, and the local mailbox."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from portal.models.base import (
    UTCDateTime,
    check_table,
    created_at_field,
    json_field,
    one_of,
    state_field,
    time_field,
)


class OutboxState(StrEnum):
    """An outbox row; the moves are ``OUTBOX_TRANSITIONS``, made by
    ``portal.jobs.outbox_states``."""

    PENDING = "pending"
    SENT = "sent"
    DONE = "done"
    DEAD = "dead"


OUTBOX_TRANSITIONS: Mapping[OutboxState, frozenset[OutboxState]] = {
    # pending → done/dead: the in-process runner and the worker run a row they were handed
    # without waiting for the dispatcher's mark; an operator discards a waiting row
    OutboxState.PENDING: frozenset({OutboxState.SENT, OutboxState.DONE, OutboxState.DEAD}),
    # sent → pending: failed with tries left, or handed to a queue that lost it
    OutboxState.SENT: frozenset({OutboxState.PENDING, OutboxState.DONE, OutboxState.DEAD}),
    OutboxState.DONE: frozenset(),
    # dead → pending: an operator retries it; → done: discarded while it ran, and it ran
    OutboxState.DEAD: frozenset({OutboxState.PENDING, OutboxState.DONE}),
}
check_table(OutboxState, OUTBOX_TRANSITIONS)
OUTBOX_STATUSES = tuple(OutboxState)
OUTBOX_FINISHED = frozenset({OutboxState.DONE, OutboxState.DEAD})
"""Never run again by itself."""


class OutboxMessage(SQLModel, table=True):
    """Written in the same transaction as the state change that causes the side effect."""

    __tablename__ = "outbox_messages"
    __table_args__ = (
        one_of("status", OUTBOX_STATUSES, "status_known"),
        sa.Index("ix_outbox_messages_due", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    job: str = Field(max_length=80)
    payload: dict[str, Any] = json_field(dict)
    dedupe_key: str = Field(max_length=200, unique=True)
    status: OutboxState = state_field(OutboxState.PENDING, 10)
    attempts: int = 0
    max_attempts: int = 8
    next_attempt_at: datetime = created_at_field()
    last_error: str | None = Field(default=None, sa_type=sa.Text)
    created_at: datetime = created_at_field()
    sent_at: datetime | None = time_field()
    done_at: datetime | None = time_field()


class ReceivedWebhook(SQLModel, table=True):
    """Every provider event id is stored once, so a re-delivered event is applied once."""

    __tablename__ = "received_webhooks"
    __table_args__ = (sa.UniqueConstraint("provider", "event_id"),)

    id: int | None = Field(default=None, primary_key=True)
    provider: str = Field(max_length=20)
    event_id: str = Field(max_length=120)
    event_type: str = Field(default="", max_length=80)
    payload: dict[str, Any] = json_field(dict)
    received_at: datetime = created_at_field()
    processed_at: datetime | None = time_field()


class MailMessage(SQLModel, table=True):
    """Every e-mail the portal sends; without SMTP this table is the local mailbox."""

    __tablename__ = "mail_messages"

    id: int | None = Field(default=None, primary_key=True)
    to: str = Field(max_length=320, index=True)
    subject: str = Field(max_length=300)
    text_body: str = Field(sa_type=sa.Text)
    html_body: str = Field(sa_type=sa.Text)
    template: str = Field(default="", max_length=80)
    dedupe_key: str = Field(max_length=200, unique=True)
    return_id: int | None = Field(default=None, foreign_key="returns.id", index=True)
    transport: str = Field(default="mailbox", max_length=20)
    created_at: datetime = created_at_field()


class KVEntry(SQLModel, table=True):
    """Backs Litestar stores (sessions, rate limits) in the database when there is no Redis."""

    __tablename__ = "kv_entries"

    key: str = Field(primary_key=True, max_length=300)
    value: bytes = Field(sa_type=sa.LargeBinary)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)


class Media(SQLModel, table=True):
    """An uploaded photo, stored outside the web root and served only to those allowed."""

    __tablename__ = "media"
    __table_args__ = (sa.CheckConstraint("size_bytes > 0", name="size_positive"),)

    id: int | None = Field(default=None, primary_key=True)
    order_id: int | None = Field(default=None, foreign_key="orders.id", index=True)
    content_type: str = Field(max_length=80)
    size_bytes: int
    sha256: str = Field(max_length=64)
    path: str = Field(max_length=300)
    created_at: datetime = created_at_field()
    uploaded_by: str = Field(default="shopper", max_length=120)
