"""Presentation helpers for shopper pages: dates, the status timeline, and what a
return looks like on its status page. No rules live here; they are in ``portal.returns``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.models.base import id_of
from portal.models.catalog import Variant
from portal.models.orders import Order, OrderLine
from portal.models.returns import (
    RETURN_CLOSED_WITHOUT_RESOLUTION,
    RETURN_PROGRESS,
    Exchange,
    LabelState,
    Return,
    ReturnLine,
    ReturnStatus,
)
from portal.returns.context import PolicyRef, policy_ref
from portal.returns.settlement import Settlement, load_settlement

RESOLUTION_LABELS = {"exchange": "Exchange", "store_credit": "Store credit", "refund": "Refund"}


def nice_date(value: str | date | datetime | None) -> str:
    """``2026-12-05`` → ``December 5, 2026`` (dates only, no time zone games)."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        text = value
        try:
            value = date.fromisoformat(text[:10])
        except ValueError:
            return text
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


def timeline(ret: Return, settlement: Settlement) -> list[Step]:
    """Where the return is, from request to resolution, as the shopper thinks of it; the
    last step is named by the settlement ("Refunded", "Credited", or "Closed" when the
    refund was declined or nothing was due)."""
    reached = RETURN_PROGRESS.index(ret.status) if ret.status in RETURN_PROGRESS else -1

    def past(status: ReturnStatus) -> bool:
        return reached >= RETURN_PROGRESS.index(status)

    steps = [
        Step("Requested", True, ret.created_at),
        Step("Approved", ret.approved_at is not None, ret.approved_at),
    ]
    if not settlement.keep_all:
        steps += [
            Step(
                "Label ready",
                ret.label_state == LabelState.READY or past(ReturnStatus.LABEL_ISSUED),
                None,
            ),
            Step(
                "In transit",
                ret.shipped_at is not None or past(ReturnStatus.IN_TRANSIT),
                ret.shipped_at,
            ),
            Step(
                "Delivered",
                ret.delivered_at is not None or past(ReturnStatus.DELIVERED),
                ret.delivered_at,
            ),
            Step("Received", ret.received_at is not None, ret.received_at),
            Step("Inspected", ret.inspected_at is not None, ret.inspected_at),
        ]
    steps.append(Step(settlement.final_step, ret.completed_at is not None, ret.completed_at))
    if ret.status in RETURN_CLOSED_WITHOUT_RESOLUTION:
        steps = [s for s in steps if s.done]
        steps.append(Step(settlement.status_label, True, ret.closed_at, True, True))
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
            .join(OrderLine, col(OrderLine.id) == ReturnLine.order_line_id)
            .join(Exchange, col(Exchange.return_line_id) == ReturnLine.id, isouter=True)
            .join(Variant, col(Variant.id) == Exchange.variant_id, isouter=True)
            .where(ReturnLine.return_id == ret.id)
            .order_by(col(ReturnLine.id))
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


async def status_context(session: AsyncSession, ret: Return) -> dict[str, Any]:
    """Everything the status page and its partials show. Every amount, state and sentence
    about the money is the return's ``Settlement``; nothing is worked out here."""
    order = await session.get(Order, ret.order_id)
    lines = await return_lines(session, ret)
    settlement = await load_settlement(session, id_of(ret), ret=ret)
    policy: PolicyRef | None = (
        await policy_ref(session, ret.policy_version_id) if ret.policy_version_id else None
    )
    warehouse = None
    if policy is not None:
        pol = policy.compiled.policy
        warehouse = pol.warehouses.get(ret.destination) or pol.warehouses[pol.default_warehouse]
    settled = {line.line_id: line for line in settlement.lines}
    for item in lines:
        item["settled"] = settled[item["line"].id]
    return {
        "ret": ret,
        "order": order,
        "lines": lines,
        "settlement": settlement,
        "steps": timeline(ret, settlement),
        "status_label": settlement.status_label,
        "expectations": list(settlement.details),
        "warehouse": warehouse,
        "warehouse_lines": address_lines(warehouse.address) if warehouse else [],
        "keep_all": settlement.keep_all,
        "resolution_labels": RESOLUTION_LABELS,
        "fmt_date": nice_date,
    }
