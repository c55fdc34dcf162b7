"""Returns analytics for a date range, plus server-side SVG bar charts and CSV export.

Definitions (also shown on the page):
- A return counts when it was requested inside the range and did not end ``rejected``,
  ``cancelled`` or ``expired`` (those never took goods back).
- Return rate: orders placed in the range that have at least one counted return, over all
  orders placed in the range.
- Reason, product and variant counts are units. Revenue kept is the paid value (after
  line discounts) of units resolved by exchange or store credit: money that stayed.
- Fees collected: restocking fees plus label fees of counted returns.
- Time to refund: from the return's request to its refund's success (succeeded refunds).
- Refunded, fees and revenue kept are the returns' settlements (``portal.returns.settlement``):
  a declined refund charges no label fee, a line rejected at inspection keeps no revenue.
- Label spend: what the carrier charged for counted returns' labels.

Data is read once per request and aggregated in Python, which keeps the numbers the same
on SQLite and PostgreSQL; the range is bounded so the work is too.
"""

from __future__ import annotations

import io
import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal import csvsafe
from portal.errors import Invalid
from portal.models.base import id_of
from portal.models.orders import Order, OrderLine
from portal.models.returns import RETURN_CLOSED_WITHOUT_RESOLUTION, Return, ReturnLine
from portal.policy.evaluator import round_half_up
from portal.returns.settlement import Settlement, load_settlements

MAX_RANGE_DAYS = 731
SETTLEMENT_CHUNK = 500
TOP = 10


class AnalyticsError(Invalid):
    """A date range that cannot be reported on; the message says why."""


@dataclass
class Report:
    date_from: date
    date_to: date
    orders: int = 0
    orders_with_returns: int = 0
    returns: int = 0
    units: int = 0
    by_reason: list[tuple[str, int]] = field(default_factory=list)
    by_product: list[tuple[str, int]] = field(default_factory=list)
    by_variant: list[tuple[str, int]] = field(default_factory=list)
    resolutions: list[tuple[str, int]] = field(default_factory=list)
    revenue_kept: int = 0
    refunded: int = 0
    restocking_fees: int = 0
    label_fees: int = 0
    label_spend: int = 0
    refund_hours: list[float] = field(default_factory=list)
    serial_returners: list[tuple[str, int]] = field(default_factory=list)
    by_week: list[tuple[str, int]] = field(default_factory=list)
    currency: str = "USD"

    @property
    def return_rate(self) -> float:
        return self.orders_with_returns / self.orders if self.orders else 0.0

    @property
    def fees_collected(self) -> int:
        return self.restocking_fees + self.label_fees

    @property
    def median_refund_hours(self) -> float | None:
        return statistics.median(self.refund_hours) if self.refund_hours else None

    @property
    def mean_refund_hours(self) -> float | None:
        return statistics.fmean(self.refund_hours) if self.refund_hours else None


EARLIEST_DAY, LATEST_DAY = date(1970, 1, 1), date(2999, 12, 31)
"""The dates a report may cover (the calendar's ends would overflow a day's bounds)."""


def default_range(today: date) -> tuple[date, date]:
    return today - timedelta(days=89), today


def check_range(date_from: date, date_to: date) -> None:
    if not (date_from >= EARLIEST_DAY and date_to <= LATEST_DAY):
        raise AnalyticsError(f"Dates must be between {EARLIEST_DAY} and {LATEST_DAY}.")
    if date_from > date_to:
        raise AnalyticsError("The start date is after the end date.")
    if (date_to - date_from).days + 1 > MAX_RANGE_DAYS:
        raise AnalyticsError(f"Choose a range of at most {MAX_RANGE_DAYS} days.")


def _bounds(date_from: date, date_to: date) -> tuple[datetime, datetime]:
    return (
        datetime.combine(date_from, time(), UTC),
        datetime.combine(date_to + timedelta(days=1), time(), UTC),
    )


def _week(moment: datetime) -> str:
    monday = moment.date() - timedelta(days=moment.weekday())
    return monday.isoformat()


def _paid(line: OrderLine, quantity: int) -> int:
    ordered = max(line.quantity, 1)
    return line.unit_price * quantity - round_half_up(line.discount * quantity, ordered)


async def build_report(session: AsyncSession, date_from: date, date_to: date) -> Report:
    """Every figure for returns requested, and orders placed, between the two dates (UTC)."""
    check_range(date_from, date_to)
    start, end = _bounds(date_from, date_to)
    report = Report(date_from, date_to)
    orders = (
        await session.exec(select(Order.id).where(Order.placed_at >= start, Order.placed_at < end))
    ).all()
    report.orders = len(orders)

    returns = (
        await session.exec(
            select(Return, Order.email)
            .join(Order, col(Order.id) == Return.order_id)
            .where(
                Return.created_at >= start,
                Return.created_at < end,
                col(Return.status).not_in(RETURN_CLOSED_WITHOUT_RESOLUTION),
            )
        )
    ).all()
    report.returns = len(returns)
    if returns:
        report.currency = returns[0][0].currency
    order_ids = set(orders)
    report.orders_with_returns = len({r.order_id for r, _ in returns if r.order_id in order_ids})
    by_id = {r.id: r for r, _ in returns}
    # Money figures are the returns' settlements: what was really refunded and charged.
    settlements: dict[int, Settlement] = {}
    ids = [i for i in by_id if i is not None]
    for start_at in range(0, len(ids), SETTLEMENT_CHUNK):
        chunk = ids[start_at : start_at + SETTLEMENT_CHUNK]
        settlements.update(
            await load_settlements(session, chunk, returns={i: by_id[i] for i in chunk})
        )
    report.label_fees = sum(s.label_fee for s in settlements.values())
    report.label_spend = sum(r.label_cost or 0 for r, _ in returns)
    report.serial_returners = Counter(email.lower() for _, email in returns).most_common(TOP)
    weeks = Counter(_week(r.created_at) for r, _ in returns)
    report.by_week = sorted(weeks.items())

    reasons: Counter[str] = Counter()
    products: Counter[str] = Counter()
    variants: Counter[str] = Counter()
    resolutions: Counter[str] = Counter()
    if by_id:
        lines = (
            await session.exec(
                select(ReturnLine, OrderLine)
                .join(OrderLine, col(OrderLine.id) == ReturnLine.order_line_id)
                .where(col(ReturnLine.return_id).in_(list(by_id)))
            )
        ).all()
        settled_lines = {line.line_id: line for st in settlements.values() for line in st.lines}
        for rl, ol in lines:
            report.units += rl.quantity
            reasons[rl.reason_code] += rl.quantity
            products[ol.title] += rl.quantity
            variants[f"{ol.title} – {ol.variant_title or ol.sku or 'default'}"] += rl.quantity
            resolutions[rl.resolution] += rl.quantity
            report.restocking_fees += rl.restocking_fee
            settled = settled_lines.get(id_of(rl))
            if rl.resolution in ("exchange", "store_credit") and settled and settled.counts:
                report.revenue_kept += _paid(ol, settled.units)
        for return_id, settlement in settlements.items():
            report.refunded += settlement.refunded
            for refund in settlement.refunds:
                if refund.paid_at is not None:
                    requested = by_id[return_id].created_at
                    report.refund_hours.append((refund.paid_at - requested).total_seconds() / 3600)
    report.by_reason = reasons.most_common()
    report.by_product = products.most_common(TOP)
    report.by_variant = variants.most_common(TOP)
    report.resolutions = resolutions.most_common()
    return report


# --- Charts -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    y: int
    width: float


@dataclass(frozen=True)
class BarChart:
    """A horizontal bar chart laid out in SVG user units; the template only draws it."""

    title: str
    bars: list[Bar]
    height: int
    label_width: int = 170
    plot_width: int = 260
    row: int = 26


def bar_chart(title: str, rows: list[tuple[str, int]]) -> BarChart:
    top = max((v for _, v in rows), default=0) or 1
    chart = BarChart(title, [], 0)
    bars = [
        Bar(label[:28], value, i * chart.row, chart.plot_width * value / top)
        for i, (label, value) in enumerate(rows)
    ]
    return BarChart(title, bars, max(len(bars), 1) * chart.row)


# --- CSV --------------------------------------------------------------------------------


def report_csv(report: Report) -> str:
    """One row per figure: section, key, value (money in minor units, as everywhere)."""
    out = io.StringIO()
    writer = csvsafe.writer(out)
    writer.writerow(["section", "key", "value"])
    writer.writerow(["range", "from", report.date_from.isoformat()])
    writer.writerow(["range", "to", report.date_to.isoformat()])
    for key, value in [
        ("orders", report.orders),
        ("orders_with_returns", report.orders_with_returns),
        ("return_rate", f"{report.return_rate:.4f}"),
        ("returns", report.returns),
        ("units", report.units),
        ("revenue_kept", report.revenue_kept),
        ("refunded", report.refunded),
        ("restocking_fees", report.restocking_fees),
        ("label_fees", report.label_fees),
        ("fees_collected", report.fees_collected),
        ("label_spend", report.label_spend),
        (
            "median_hours_to_refund",
            "" if report.median_refund_hours is None else f"{report.median_refund_hours:.1f}",
        ),
    ]:
        writer.writerow(["summary", key, value])
    for section, rows in [
        ("reason", report.by_reason),
        ("product", report.by_product),
        ("variant", report.by_variant),
        ("resolution", report.resolutions),
        ("serial_returner", report.serial_returners),
        ("week", report.by_week),
    ]:
        for key, value in rows:
            writer.writerow([section, key, value])
    return out.getvalue()


__all__ = ["AnalyticsError", "Report", "bar_chart", "build_report", "default_range", "report_csv"]
