"""Presentation helpers for shopper pages: dates, the status timeline, and what a
return looks like on its status page. No rules live here; they are in ``portal.returns``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.models.audit import AuditEvent
from portal.models.catalog import Variant
from portal.models.money import Refund
from portal.models.orders import Order, OrderLine
from portal.models.returns import Exchange, Return, ReturnLine
from portal.money.currency import format_money
from portal.returns.context import PolicyRef, policy_ref

RESOLUTION_LABELS = {"exchange": "Exchange", "store_credit": "Store credit", "refund": "Refund"}
STATUS_LABELS = {
    "requested": "Waiting for review",
    "approved": "Approved",
    "label_issued": "Label ready",
    "in_transit": "On its way to us",
    "delivered": "Delivered to us",
    "received": "Received",
    "inspected": "Checked",
    "completed": "Completed",
    "rejected": "Not accepted",
    "cancelled": "Cancelled",
    "expired": "Expired",
}


def nice_date(value: str | date | datetime | None) -> str:
    """``2026-12-05`` → ``December 5, 2026`` (dates only, no time zone games)."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value[:10])
        except ValueError:
            return value
    return f"{value:%B} {value.day}, {value.year}"


def address_lines(address: Any) -> list[str]:
    """A warehouse address (text or mapping) as lines to print."""
    if isinstance(address, str):
        return [part.strip() for part in address.split(",") if part.strip()]
    if isinstance(address, dict):
        parts = [address.get("line1", ""), address.get("line2", "")]
        city = " ".join(
            x
            for x in (
                address.get("city", ""),
                address.get("region", ""),
                address.get("postal_code", ""),
            )
            if x
        )
        parts += [city, address.get("country", "")]
        return [p for p in parts if p]
    return []


@dataclass(frozen=True, slots=True)
class Step:
    label: str
    done: bool
    when: datetime | None
    current: bool = False
    failed: bool = False


def timeline(
    ret: Return, lines: list[dict[str, Any]], *, refund_declined: bool = False
) -> list[Step]:
    """Where the return is, from request to resolution, as the shopper thinks of it
    (``refund_declined``: finance declined the refund, so it ends "Closed", not "Refunded")."""
    keep_all = bool(lines) and all(item["keep_item"] for item in lines)
    resolutions = {item["line"].resolution for item in lines}
    if resolutions == {"exchange"}:
        final = "Exchanged"
    elif resolutions == {"store_credit"}:
        final = "Credited"
    elif resolutions == {"refund"}:
        final = "Closed" if refund_declined else "Refunded"
    else:
        final = "Resolved"
    order = [
        "requested",
        "approved",
        "label_issued",
        "in_transit",
        "delivered",
        "received",
        "inspected",
        "completed",
    ]
    reached = order.index(ret.status) if ret.status in order else -1
    steps = [
        Step("Requested", True, ret.created_at),
        Step("Approved", ret.approved_at is not None, ret.approved_at),
    ]
    if not keep_all:
        steps += [
            Step("Label ready", ret.label_state == "ready" or reached >= 2, None),
            Step("In transit", ret.shipped_at is not None or reached >= 3, ret.shipped_at),
            Step("Delivered", ret.delivered_at is not None or reached >= 4, ret.delivered_at),
            Step("Received", ret.received_at is not None, ret.received_at),
            Step("Inspected", ret.inspected_at is not None, ret.inspected_at),
        ]
    steps.append(Step(final, ret.completed_at is not None, ret.completed_at))
    if ret.status in ("rejected", "cancelled", "expired"):
        steps = [s for s in steps if s.done]
        steps.append(Step(STATUS_LABELS[ret.status], True, ret.closed_at, True, True))
        return steps
    out, current_set = [], False
    for step in steps:
        if not step.done and not current_set:
            out.append(Step(step.label, False, step.when, current=True))
            current_set = True
        else:
            out.append(step)
    return out


async def return_lines(session: AsyncSession, ret: Return) -> list[dict[str, Any]]:
    rows = (
        await session.exec(
            select(ReturnLine, OrderLine, Exchange, Variant)
            .join(OrderLine, OrderLine.id == ReturnLine.order_line_id)  # type: ignore[arg-type]
            .join(Exchange, Exchange.return_line_id == ReturnLine.id, isouter=True)  # type: ignore[arg-type]
            .join(Variant, Variant.id == Exchange.variant_id, isouter=True)  # type: ignore[arg-type]
            .where(ReturnLine.return_id == ret.id)
            .order_by(ReturnLine.id)  # type: ignore[arg-type]
        )
    ).all()
    return [
        {
            "line": line,
            "order_line": order_line,
            "exchange": exchange,
            "variant": variant,
            "keep_item": bool(line.decision.get("keep_item")),
        }
        for line, order_line, exchange, variant in rows
    ]


@dataclass(frozen=True, slots=True)
class Expectation:
    """When the shopper can expect their money or replacement, in plain words."""

    text: str


def _refund_sentence(refund: Refund, shopper_message: str = "") -> str:
    """The same dates finance works to, in the shopper's words (never finance's internal
    rejection reason: only the message finance wrote for the shopper)."""
    amount = format_money(refund.amount, refund.currency)
    if refund.status == "succeeded":
        when = nice_date(refund.completed_at) if refund.completed_at else "recently"
        return f"Your refund of {amount} was paid on {when}."
    if refund.status == "rejected":
        return f"Your refund of {amount} was declined. " + (
            shopper_message or "We have e-mailed you about it; please contact us with questions."
        )
    due = f" by {nice_date(refund.due_at)}" if refund.due_at else ""
    return f"Your refund of {amount} goes back to your original payment{due}."


async def shopper_messages(session: AsyncSession, refund_ids: list[int]) -> dict[int, str]:
    """What finance wrote to the shopper when rejecting each refund (kept on the audit event)."""
    if not refund_ids:
        return {}
    rows = (
        await session.exec(
            select(AuditEvent.entity_id, AuditEvent.data)
            .where(
                AuditEvent.entity_type == "refund",
                AuditEvent.entity_id.in_(refund_ids),  # type: ignore[attr-defined]
                AuditEvent.action == "rejected",
            )
            .order_by(AuditEvent.id)  # type: ignore[arg-type]
        )
    ).all()
    return {rid: str((data or {}).get("shopper_message") or "") for rid, data in rows}


async def status_context(session: AsyncSession, ret: Return) -> dict[str, Any]:
    """Everything the status page and its partials show."""
    order = await session.get(Order, ret.order_id)
    lines = await return_lines(session, ret)
    policy: PolicyRef | None = (
        await policy_ref(session, ret.policy_version_id) if ret.policy_version_id else None
    )
    expectations: list[str] = []
    warehouse = None
    refunds = (
        await session.exec(
            select(Refund)
            .where(Refund.return_id == ret.id, Refund.status != "failed")
            .order_by(Refund.id)  # type: ignore[arg-type]
        )
    ).all()
    keep_all = bool(lines) and all(item["keep_item"] for item in lines)
    if keep_all and ret.status not in ("rejected", "cancelled", "expired"):
        expectations.append("You keep your items: there is nothing to send back.")
    if policy is not None:
        pol = policy.compiled.policy
        timelines = pol.timelines
        warehouse = pol.warehouses.get(ret.destination) or pol.warehouses[pol.default_warehouse]
        resolutions = {item["line"].resolution for item in lines}
        days = timelines.refund_within_days_of_receipt
        if refunds:
            messages = await shopper_messages(
                session,
                [r.id for r in refunds if r.status == "rejected"],  # type: ignore[misc]
            )
            for refund in refunds:
                expectations.append(_refund_sentence(refund, messages.get(refund.id, "")))  # type: ignore[arg-type]
        elif "refund" in resolutions and ret.refund_total:
            when = (
                f"by {nice_date(ret.received_at + timedelta(days=days))}"
                if ret.received_at
                else f"within {days} days of approval"
                if keep_all
                else f"within {days} days of the parcel reaching us"
            )
            expectations.append(f"Your refund goes back to your original payment {when}.")
        if "store_credit" in resolutions and ret.store_credit_total:
            if keep_all:
                expectations.append(
                    "Your store credit is e-mailed to you as soon as the return is approved; "
                    "you can spend it straight away."
                )
            elif pol.store_credit.issue == "instant":
                expectations.append(
                    "Your store credit is e-mailed to you as soon as the return is approved; "
                    "you can spend it straight away. Credit for an item that doesn't reach "
                    "us or that we can't accept is taken back from what is left on the code."
                )
            else:
                expectations.append(
                    f"Your store credit is e-mailed to you within {days} days of the parcel "
                    "reaching us."
                )
        if "exchange" in resolutions:
            expectations.append(
                "Your replacement ships as soon as the return is approved."
                if keep_all
                else "Your replacement is held for you and ships once your parcel reaches us."
            )
    return {
        "ret": ret,
        "order": order,
        "lines": lines,
        "steps": timeline(
            ret,
            lines,
            refund_declined=any(r.status == "rejected" for r in refunds)
            and not any(r.status == "succeeded" for r in refunds),
        ),
        "status_label": STATUS_LABELS.get(ret.status, ret.status),
        "expectations": expectations,
        "warehouse": warehouse,
        "warehouse_lines": address_lines(warehouse.address) if warehouse else [],
        "keep_all": keep_all,
        "exchange_difference": sum(
            item["exchange"].price_difference for item in lines if item["exchange"]
        ),
        "resolution_labels": RESOLUTION_LABELS,
        "fmt_date": nice_date,
    }
