"""Reading the audit trail: by return (RMA), by who did it, and by date.

A return's trail includes its refunds' and exchanges' events, which are recorded against
those entities' own ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.errors import Invalid
from portal.models.audit import AuditEvent
from portal.models.money import Refund
from portal.models.returns import Exchange, Return, ReturnLine

PAGE_SIZE = 100
MAX_PAGE = 100_000
EARLIEST_DAY, LATEST_DAY = date(1970, 1, 1), date(2999, 12, 31)
"""The dates a filter may name (the calendar's ends would overflow a day's bounds)."""


class AuditQueryError(Invalid):
    """A filter that cannot be applied; the message says which and why."""


@dataclass(frozen=True)
class AuditFilter:
    rma: str = ""
    actor: str = ""
    date_from: date | None = None
    date_to: date | None = None


@dataclass(frozen=True)
class AuditPage:
    events: list[AuditEvent]
    has_more: bool
    page: int


def parse_date(raw: str, label: str) -> date | None:
    raw = raw.strip()
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise AuditQueryError(f"{label} must be a date like 2026-11-23.") from None
    if not EARLIEST_DAY <= day <= LATEST_DAY:
        raise AuditQueryError(f"{label} must be between {EARLIEST_DAY} and {LATEST_DAY}.")
    return day


async def search(session: AsyncSession, f: AuditFilter, page: int = 1) -> AuditPage:
    """Newest first, ``PAGE_SIZE`` at a time (dates are whole UTC days, inclusive)."""
    if f.date_from and f.date_to and f.date_from > f.date_to:
        raise AuditQueryError("The start date is after the end date.")
    query = select(AuditEvent)
    if f.rma.strip():
        rma = f.rma.strip().upper()
        ret = (await session.exec(select(Return).where(Return.rma == rma))).first()
        if ret is None:
            raise AuditQueryError(f"There is no return {rma}.")
        refunds = select(Refund.id).where(Refund.return_id == ret.id)
        exchanges = (
            select(Exchange.id)
            .join(ReturnLine, col(ReturnLine.id) == Exchange.return_line_id)
            .where(ReturnLine.return_id == ret.id)
        )
        query = query.where(
            sa.or_(
                sa.and_(
                    col(AuditEvent.entity_type) == "return", col(AuditEvent.entity_id) == ret.id
                ),
                sa.and_(
                    col(AuditEvent.entity_type) == "refund", col(AuditEvent.entity_id).in_(refunds)
                ),
                sa.and_(
                    col(AuditEvent.entity_type) == "exchange",
                    col(AuditEvent.entity_id).in_(exchanges),
                ),
            )
        )
    if f.actor.strip():
        needle = f.actor.strip().lower()
        query = query.where(sa.func.lower(AuditEvent.actor).contains(needle, autoescape=True))
    if f.date_from:
        query = query.where(AuditEvent.created_at >= datetime.combine(f.date_from, time(), UTC))
    if f.date_to:
        end = datetime.combine(f.date_to + timedelta(days=1), time(), UTC)
        query = query.where(AuditEvent.created_at < end)
    page = max(1, page)
    if page > MAX_PAGE:
        raise AuditQueryError(f"The page must be a number from 1 to {MAX_PAGE}.")
    rows = (
        await session.exec(
            query.order_by(col(AuditEvent.created_at).desc(), col(AuditEvent.id).desc())
            .offset((page - 1) * PAGE_SIZE)
            .limit(PAGE_SIZE + 1)
        )
    ).all()
    return AuditPage(list(rows[:PAGE_SIZE]), len(rows) > PAGE_SIZE, page)
