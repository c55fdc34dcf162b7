"""Finance reports: refunds and credit by day and method, CSV, and reconciliation with
the payment provider (every difference listed, nothing fixed silently)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal import csvsafe
from portal.models.base import id_of
from portal.models.money import Refund, RefundStatus, StoreCreditCode, StoreCreditEntry
from portal.payments import Payments


@dataclass(frozen=True)
class ReportRow:
    day: date
    kind: str  # "refund" or "credit"
    method: str  # provider for refunds, ledger entry kind for credit
    currency: str
    count: int
    amount: int


def _bounds(start: date, end: date) -> tuple[datetime, datetime]:
    return datetime.combine(start, time(0), UTC), datetime.combine(
        end + timedelta(days=1), time(0), UTC
    )


async def daily_report(session: AsyncSession, start: date, end: date) -> list[ReportRow]:
    """Succeeded refunds by day of payment and provider; credit entries by day and kind.

    Grouped in Python over the period's rows so the day is the same on SQLite and PostgreSQL.
    """
    low, high = _bounds(start, end)
    buckets: dict[tuple[date, str, str, str], list[int]] = {}
    refunds = (
        await session.exec(
            select(Refund).where(
                Refund.status == RefundStatus.SUCCEEDED,
                col(Refund.completed_at) >= low,
                col(Refund.completed_at) < high,
            )
        )
    ).all()
    for r in refunds:
        assert r.completed_at is not None  # the query compared it with the period
        key = (r.completed_at.astimezone(UTC).date(), "refund", r.provider, r.currency)
        buckets.setdefault(key, [0, 0])
        buckets[key][0] += 1
        buckets[key][1] += r.amount
    entries = (
        await session.exec(
            select(StoreCreditEntry, StoreCreditCode.currency)
            .join(StoreCreditCode, col(StoreCreditCode.id) == StoreCreditEntry.code_id)
            .where(StoreCreditEntry.created_at >= low, StoreCreditEntry.created_at < high)
        )
    ).all()
    for e, currency in entries:
        key = (e.created_at.astimezone(UTC).date(), "credit", e.kind, currency)
        buckets.setdefault(key, [0, 0])
        buckets[key][0] += 1
        buckets[key][1] += e.amount
    return [
        ReportRow(day, kind, method, currency, count, amount)
        for (day, kind, method, currency), (count, amount) in sorted(buckets.items())
    ]


def report_csv(rows: list[ReportRow]) -> str:
    out = io.StringIO()
    writer = csvsafe.writer(out)
    writer.writerow(["day", "kind", "method", "currency", "count", "amount_minor"])
    for r in rows:
        writer.writerow([r.day.isoformat(), r.kind, r.method, r.currency, r.count, r.amount])
    return out.getvalue()


@dataclass(frozen=True)
class Difference:
    problem: str
    refund_id: int | None
    reference: str | None
    ours: str
    theirs: str


async def reconcile(session: AsyncSession, payments: Payments) -> list[Difference]:
    """Compare our provider refunds with the provider's list; list every difference."""
    if not payments.automatic:
        return []
    theirs = await payments.list_refunds()
    ours = (await session.exec(select(Refund).where(Refund.provider == payments.name))).all()
    by_ref = {r.provider_reference: r for r in ours if r.provider_reference}
    by_id = {r.id: r for r in ours}
    seen: set[int] = set()
    out: list[Difference] = []
    for item in theirs:
        mine = by_ref.get(item.reference) or (by_id.get(item.refund_id) if item.refund_id else None)
        if mine is None:
            out.append(
                Difference(
                    "unknown at the portal",
                    item.refund_id,
                    item.reference,
                    "—",
                    f"{item.status} {item.amount} {item.currency}",
                )
            )
            continue
        if mine.id in seen:
            out.append(
                Difference(
                    "paid twice at the provider",
                    mine.id,
                    item.reference,
                    f"{mine.status} {mine.amount}",
                    f"{item.status} {item.amount}",
                )
            )
            continue
        seen.add(id_of(mine))
        if mine.amount != item.amount:
            out.append(
                Difference(
                    "amount differs", mine.id, item.reference, str(mine.amount), str(item.amount)
                )
            )
        # the provider's word for ours: still being paid is its "pending"
        ours_status = "pending" if mine.status == RefundStatus.PROCESSING else mine.status
        if ours_status != item.status:
            out.append(
                Difference("status differs", mine.id, item.reference, mine.status, item.status)
            )
        if mine.provider_reference is None:
            out.append(
                Difference(
                    "reference missing at the portal", mine.id, item.reference, "—", item.reference
                )
            )
    for mine in ours:
        if (
            mine.id not in seen
            and mine.status in (RefundStatus.SUCCEEDED, RefundStatus.PROCESSING)
            and mine.provider_reference
        ):
            out.append(
                Difference(
                    "missing at the provider",
                    mine.id,
                    mine.provider_reference,
                    f"{mine.status} {mine.amount}",
                    "—",
                )
            )
    return out
