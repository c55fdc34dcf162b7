"""What finance sees: the refund queue with its filters, and one refund with everything
needed to decide (policy decision and matched rules, inspection, the shopper's history)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.models.audit import AuditEvent
from portal.models.base import id_of, utcnow
from portal.models.money import REFUND_IN_FLIGHT, Refund, RefundApproval, RefundStatus
from portal.models.orders import Customer, Order, OrderLine
from portal.models.returns import Return, ReturnLine
from portal.models.staff import StaffUser

QUEUE_STATUSES = (
    RefundStatus.PENDING_APPROVAL,
    RefundStatus.APPROVED,
    RefundStatus.PROCESSING,
    RefundStatus.FAILED,
    RefundStatus.SUCCEEDED,
    RefundStatus.REJECTED,
)
"""The queue's tabs, in the order finance works through them."""

MAX_FILTER_AMOUNT = 2**31 - 1
"""The largest amount filter (minor units): what the amount column (INTEGER) holds."""
MAX_FILTER_DAYS = 36_500
"""The largest age filter in days (a hundred years; more would overflow the date)."""


@dataclass
class QueueFilters:
    """Parsed query parameters; bad values are reported, never guessed."""

    status: str = RefundStatus.PENDING_APPROVAL
    """A refund status, or ``all``."""
    min_amount: int | None = None
    max_amount: int | None = None
    older_than_days: int | None = None
    reason: str = ""
    warehouse: str = ""
    overdue: bool = False
    errors: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, params: dict[str, str]) -> QueueFilters:
        status = params.get("status") or RefundStatus.PENDING_APPROVAL
        known = status in (*QUEUE_STATUSES, "all")
        f = cls(status=status) if known else cls()
        if not known:
            f.errors.append(f"Unknown status {status!r}.")
        for name, highest in (
            ("min_amount", MAX_FILTER_AMOUNT),
            ("max_amount", MAX_FILTER_AMOUNT),
            ("older_than_days", MAX_FILTER_DAYS),
        ):
            raw = (params.get(name) or "").strip()
            if raw:
                label = name.replace("_", " ").capitalize()
                if not (raw.isascii() and raw.isdigit()):
                    f.errors.append(f"{label} must be a whole number.")
                elif len(raw) > len(str(highest)) or int(raw) > highest:
                    f.errors.append(f"{label} must be at most {highest}.")
                else:
                    setattr(f, name, int(raw))
        f.reason = (params.get("reason") or "").strip()[:64]
        f.warehouse = (params.get("warehouse") or "").strip()[:64]
        f.overdue = params.get("overdue") in ("1", "on", "true", "yes")
        return f


@dataclass
class QueueRow:
    refund: Refund
    rma: str
    order_number: str
    email: str
    warehouse: str
    reasons: list[str]
    approvals: int
    overdue: bool
    age_days: int


async def refund_queue(
    session: AsyncSession, filters: QueueFilters, *, now: datetime | None = None, limit: int = 500
) -> list[QueueRow]:
    now = now or utcnow()
    query = (
        select(Refund, Return, Order)
        .join(Return, col(Return.id) == Refund.return_id)
        .join(Order, col(Order.id) == Return.order_id)
    )
    if filters.status != "all":
        query = query.where(Refund.status == filters.status)
    if filters.min_amount is not None:
        query = query.where(Refund.amount >= filters.min_amount)
    if filters.max_amount is not None:
        query = query.where(Refund.amount <= filters.max_amount)
    if filters.older_than_days is not None:
        query = query.where(Refund.created_at <= now - timedelta(days=filters.older_than_days))
    if filters.warehouse:
        query = query.where(Return.destination == filters.warehouse)
    if filters.overdue:
        query = query.where(col(Refund.due_at).is_not(None), col(Refund.due_at) < now)
    if filters.reason:
        query = query.where(
            sa.exists().where(
                col(ReturnLine.return_id) == Return.id,
                col(ReturnLine.reason_code) == filters.reason,
            )
        )
    rows = (
        await session.exec(query.order_by(col(Refund.due_at), col(Refund.id)).limit(limit))
    ).all()
    ids = [r.id for r, _, _ in rows]
    return_ids = [ret.id for _, ret, _ in rows]
    approvals: dict[int, int] = {}
    reasons: dict[int, list[str]] = {}
    if ids:
        approvals = dict(
            (
                await session.exec(
                    select(RefundApproval.refund_id, sa.func.count())
                    .where(col(RefundApproval.refund_id).in_(ids))
                    .group_by(col(RefundApproval.refund_id))
                )
            ).all()
        )
        for rid, code in (
            await session.exec(
                select(ReturnLine.return_id, ReturnLine.reason_code).where(
                    col(ReturnLine.return_id).in_(return_ids)
                )
            )
        ).all():
            reasons.setdefault(rid, []).append(code)
    return [
        QueueRow(
            refund=refund,
            rma=ret.rma,
            order_number=order.number,
            email=order.email,
            warehouse=ret.destination,
            reasons=sorted(set(reasons.get(id_of(ret), []))),
            approvals=approvals.get(id_of(refund), 0),
            overdue=is_overdue(refund, now),
            age_days=max(0, (now - refund.created_at).days),
        )
        for refund, ret, order in rows
    ]


def is_overdue(refund: Refund, now: datetime) -> bool:
    return refund.due_at is not None and refund.due_at < now and refund.status in REFUND_IN_FLIGHT


async def filter_choices(session: AsyncSession) -> dict[str, list[str]]:
    reasons = (await session.exec(select(ReturnLine.reason_code).distinct())).all()
    warehouses = (await session.exec(select(Return.destination).distinct())).all()
    return {
        "reasons": sorted(r for r in reasons if r),
        "warehouses": sorted(w for w in warehouses if w),
    }


async def refund_detail(session: AsyncSession, refund_id: int) -> dict[str, Any] | None:
    refund = await session.get(Refund, refund_id)
    if refund is None:
        return None
    ret = await session.get_one(Return, refund.return_id)
    order = await session.get_one(Order, ret.order_id)
    customer = (
        await session.get(Customer, order.customer_id) if order and order.customer_id else None
    )
    lines = (
        await session.exec(
            select(ReturnLine, OrderLine)
            .join(OrderLine, col(OrderLine.id) == ReturnLine.order_line_id)
            .where(ReturnLine.return_id == ret.id)
            .order_by(col(ReturnLine.id))
        )
    ).all()
    approvers = (
        await session.exec(
            select(StaffUser.email, RefundApproval.created_at)
            .join(StaffUser, col(StaffUser.id) == RefundApproval.user_id)
            .where(RefundApproval.refund_id == refund_id)
        )
    ).all()
    history_q = select(Return, Order).join(Order, col(Order.id) == Return.order_id)
    if customer is not None:
        history_q = history_q.where(Order.customer_id == customer.id)
    else:
        history_q = history_q.where(Order.email == order.email)
    history = (
        await session.exec(history_q.order_by(col(Return.created_at).desc()).limit(50))
    ).all()
    events = (
        await session.exec(
            select(AuditEvent)
            .where(AuditEvent.entity_type == "refund", AuditEvent.entity_id == refund_id)
            .order_by(col(AuditEvent.id))
        )
    ).all()
    return {
        "refund": refund,
        "ret": ret,
        "order": order,
        "customer": customer,
        "lines": list(lines),
        "approvers": list(approvers),
        "history": list(history),
        "events": list(events),
        "shopper_message": next(
            (
                str((e.data or {}).get("shopper_message") or "")
                for e in reversed(events)
                if e.action == RefundStatus.REJECTED
            ),
            "",
        ),
        "overdue": is_overdue(refund, utcnow()),
    }
