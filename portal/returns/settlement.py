"""One truth for every return: what the shopper gets, what was rejected, what is still
owed and by whom, in one frozen ``Settlement`` value.

Two pure parts, no I/O and no clock (dates come in):

* ``plan`` — the money rule, applied when a return ends (inspection finished, every item
  kept, cancelled, rejected, expired). Per line: an accepted line pays its frozen decision
  (``refund_amount`` or ``store_credit_amount``, bonus included) pro rata to what arrived,
  rounded down; a kept line (``keep_item``) pays in full; a rejected line or one that did
  not arrive pays nothing and its exchange is cancelled. The label fee comes out of the
  refund and never takes it below zero. Store credit already issued (``issue: instant``)
  above what is due is taken back; credit not yet issued is issued once. Inspection,
  keep-every-item settlement, cancellation and expiry all carry out the same ``Plan``
  (``portal.returns.resolution``).
* ``settle`` — from the return, its lines (decision, inspection, exchange), the ledger
  entries of its store-credit code and its refunds, the ``Settlement`` every reader shows:
  the shopper's status page and e-mails, the finance refund page, store webhooks and
  analytics. No page works money out by itself.

``load_settlement`` / ``load_settlements`` gather the inputs in a few queries.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.models.audit import AuditEvent
from portal.models.base import id_of
from portal.models.catalog import Variant
from portal.models.money import Refund, RefundStatus, StoreCreditCode, StoreCreditEntry
from portal.models.orders import OrderLine
from portal.models.returns import Exchange, ExchangeStatus, Return, ReturnLine, ReturnStatus
from portal.money.currency import format_money
from portal.returns.context import policy_ref

__all__ = [
    "CreditEntryIn",
    "CreditSettlement",
    "Ending",
    "ExchangeIn",
    "LineIn",
    "LinePlan",
    "LineSettlement",
    "MoneyRow",
    "Plan",
    "RefundIn",
    "RefundSettlement",
    "ReturnIn",
    "Settlement",
    "credit_bonus",
    "ending_of",
    "line_inputs",
    "load_settlement",
    "load_settlements",
    "nice_date",
    "paid_for",
    "plan",
    "prorata",
    "return_input",
    "settle",
]

Ending = Literal["open", "inspected", "kept", "cancelled", "rejected", "expired"]
"""How a return ends (``open``: not yet): decides which lines count for money."""

_R = ReturnStatus
_F = RefundStatus
_X = ExchangeStatus
_OPEN_BEFORE_RECEIPT = frozenset({_R.REQUESTED, _R.APPROVED, _R.LABEL_ISSUED})
_AWAITING_PARCEL = frozenset({_R.APPROVED, _R.LABEL_ISSUED, _R.IN_TRANSIT, _R.DELIVERED})
_LIVE_REFUND = frozenset({_F.PENDING_APPROVAL, _F.APPROVED, _F.PROCESSING, _F.SUCCEEDED})
_IN_FLIGHT = frozenset({_F.PENDING_APPROVAL, _F.APPROVED, _F.PROCESSING})


# --- inputs ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExchangeIn:
    """The replacement held for a line (``Exchange`` row)."""

    exchange_id: int
    variant: str
    quantity: int
    status: str
    price_difference: int = 0
    payment_reference: str | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class LineIn:
    """A return line: the frozen decision, and what inspection found (None: not graded)."""

    line_id: int
    title: str
    quantity: int
    resolution: str
    refund_amount: int = 0
    store_credit_amount: int = 0
    credit_bonus: int = 0
    """The bonus inside ``store_credit_amount`` (``credit_bonus``)."""
    paid: int = 0
    """What the shopper paid for these units (``paid_for``)."""
    keep_item: bool = False
    received_quantity: int | None = None
    accepted: bool | None = None
    inspection_note: str = ""
    exchange: ExchangeIn | None = None


@dataclass(frozen=True, slots=True)
class ReturnIn:
    """The return's own columns, and the policy terms the shopper is told about."""

    return_id: int
    rma: str
    currency: str
    status: str
    refund_total: int = 0
    store_credit_total: int = 0
    label_fee: int = 0
    label_state: str = "none"
    tracking_code: str | None = None
    created_at: datetime | None = None
    approved_at: datetime | None = None
    received_at: datetime | None = None
    inspected_at: datetime | None = None
    completed_at: datetime | None = None
    closed_at: datetime | None = None
    ship_by: datetime | None = None
    closing_reason: str = ""
    """Why a reviewer rejected the return (the reason the shopper was e-mailed)."""
    refund_days: int | None = None
    """The policy's ``refund_within_days_of_receipt`` (None: no policy)."""
    credit_issue: str = "on_receipt"
    """The policy's ``store_credit.issue``: ``instant`` or ``on_receipt``."""


@dataclass(frozen=True, slots=True)
class CreditEntryIn:
    """One ledger row of the code issued for the return (``StoreCreditEntry``)."""

    kind: str
    amount: int
    code: str
    key: str | None = None
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class RefundIn:
    refund_id: int
    amount: int
    status: str
    purpose: str = "return"
    created_at: datetime | None = None
    decided_at: datetime | None = None
    completed_at: datetime | None = None
    due_at: datetime | None = None
    shopper_message: str = ""
    """What finance wrote to the shopper when declining (never its internal reason)."""


# --- the plan: what ending a return pays ------------------------------------------------


def prorata(amount: int, received: int, requested: int) -> int:
    """``amount`` for ``received`` of ``requested`` units, rounded down."""
    return amount * received // requested if requested > 0 else 0


def _round_half_up(numerator: int, denominator: int) -> int:
    return (2 * numerator + denominator) // (2 * denominator)


def paid_for(unit_price: int, quantity: int, discount: int, ordered: int) -> int:
    """What was paid for ``quantity`` units of an order line (its discount spread evenly)."""
    return max(0, unit_price * quantity - _round_half_up(discount * quantity, max(ordered, 1)))


def credit_bonus(resolution: str, store_credit_amount: int, paid: int, restocking_fee: int) -> int:
    """The bonus inside a store-credit line's amount (POLICY.md: ``paid - fee + bonus``)."""
    if resolution != "store_credit":
        return 0
    return max(0, min(store_credit_amount, store_credit_amount - (paid - restocking_fee)))


@dataclass(frozen=True, slots=True)
class LinePlan:
    line_id: int
    counts: bool
    """The line earns money (accepted, or kept, and at least one unit)."""
    units: int
    """Units that count (what arrived, or all for a kept line)."""
    refund: int
    credit: int
    bonus: int
    """The bonus part of ``credit``."""
    exchange: Literal["release", "cancel"] | None
    """What happens to a reserved exchange (None: nothing to do)."""
    exchange_units: int = 0
    reason: str = ""
    """Why the line earns nothing (the grader's note, or that nothing arrived)."""


@dataclass(frozen=True, slots=True)
class Plan:
    """What ending a return pays, and what to do to the ledger, refunds and exchanges."""

    ending: Ending
    lines: tuple[LinePlan, ...]
    refund_lines: int
    """The refund lines' shares before the label fee."""
    label_fee: int
    """The label fee charged: never more than the refund lines' shares."""
    refund: int
    """The refund due (what to request)."""
    credit: int
    """The store credit due."""
    bonus: int
    """The bonus inside ``credit``."""
    credit_issued: int
    """Store credit already issued for the return (at approval) when the plan was made."""
    issue_credit: int
    """Credit to issue now (nothing was issued yet)."""
    take_back: int
    """Credit issued earlier and no longer due: to reverse (as far as it is unspent)."""

    @property
    def released(self) -> list[int]:
        return [p.line_id for p in self.lines if p.exchange == "release"]

    @property
    def cancelled(self) -> list[int]:
        return [p.line_id for p in self.lines if p.exchange == "cancel"]

    @property
    def pays_nothing(self) -> bool:
        return self.refund == 0 and self.credit == 0

    def summary(self) -> dict[str, Any]:
        """The plan as the audit event and webhooks record it (minor units)."""
        return {
            "ending": self.ending,
            "refund": self.refund,
            "label_fee": self.label_fee,
            "store_credit": self.credit,
            "bonus": self.bonus,
            "credit_taken_back": self.take_back,
            "lines": [
                {
                    "line_id": p.line_id,
                    "accepted": p.counts,
                    "units": p.units,
                    "refund": p.refund,
                    "credit": p.credit,
                    "exchange": p.exchange,
                }
                for p in self.lines
            ],
        }


def _line_plan(line: LineIn, ending: Ending) -> LinePlan:
    held = line.exchange if line.exchange and line.exchange.status == _X.RESERVED else None
    if ending in ("cancelled", "rejected"):
        counts, units, reason = False, 0, ""
    elif ending == "expired":
        counts, units, reason = line.keep_item, line.quantity if line.keep_item else 0, ""
    elif ending == "inspected" and not line.keep_item:
        units = int(line.received_quantity or 0)
        counts = bool(line.accepted) and units > 0
        reason = "" if counts else (line.inspection_note or "Nothing arrived.")
    else:  # open (the promise), kept, or a kept line at inspection
        counts, units, reason = True, line.quantity, ""
    refund = prorata(line.refund_amount, units, line.quantity) if counts else 0
    credit = prorata(line.store_credit_amount, units, line.quantity) if counts else 0
    bonus = min(credit, prorata(line.credit_bonus, units, line.quantity)) if counts else 0
    exchange: Literal["release", "cancel"] | None = None
    exchange_units = 0
    if held is not None and ending != "open":
        if counts and ending in ("inspected", "kept"):
            exchange, exchange_units = "release", min(units, held.quantity)
        else:  # rejected or missing at inspection; every reservation of a return called off
            exchange = "cancel"
    return LinePlan(
        line.line_id, counts, units, refund, credit, bonus, exchange, exchange_units, reason
    )


def plan(
    lines: Sequence[LineIn],
    *,
    label_fee: int,
    ending: Ending,
    credit_issued: int = 0,
) -> Plan:
    """What ending a return as ``ending`` pays.

    ``label_fee`` is the return's (``Return.label_fee``, charged only when a parcel ships
    back: the kept and expired endings charge none); ``credit_issued`` is the store credit
    already issued for the return. Refund and credit are never negative, never more than
    the frozen decision, and credit is issued at most once.
    """
    planned = tuple(_line_plan(line, ending) for line in lines)
    refund_lines = sum(p.refund for p in planned)
    ships_back = any(not line.keep_item for line in lines)
    fee = (
        min(max(0, label_fee), refund_lines)
        if ships_back and ending in ("open", "inspected")
        else 0
    )
    credit = sum(p.credit for p in planned)
    issued = max(0, credit_issued)
    issue_now = credit if issued == 0 and ending in ("inspected", "kept") else 0
    return Plan(
        ending=ending,
        lines=planned,
        refund_lines=refund_lines,
        label_fee=fee,
        refund=max(0, refund_lines - fee),
        credit=credit,
        bonus=sum(p.bonus for p in planned),
        credit_issued=issued,
        issue_credit=issue_now,
        take_back=max(0, issued - credit),
    )


def ending_of(status: str, keep_all: bool) -> Ending:
    """The ending a return in ``status`` was (or will be) settled by."""
    if status == _R.CANCELLED:
        return "cancelled"
    if status == _R.REJECTED:
        return "rejected"
    if status == _R.EXPIRED:
        return "expired"
    if keep_all and status in (_R.APPROVED, _R.COMPLETED):
        return "kept"
    if status in (_R.INSPECTED, _R.COMPLETED):
        return "inspected"
    return "open"


# --- the settlement: what every reader shows ---------------------------------------------


def nice_date(value: date | datetime | None) -> str:
    """``2026-12-05`` → ``December 5, 2026``."""
    if value is None:
        return ""
    return f"{value:%B} {value.day}, {value.year}"


@dataclass(frozen=True, slots=True)
class RefundSettlement:
    refund_id: int
    amount: int
    status: str
    state: str
    """In the shopper's terms: requested, approved, paid, declined, failed."""
    purpose: str
    requested_at: datetime | None
    decided_at: datetime | None
    paid_at: datetime | None
    due_at: datetime | None
    shopper_message: str
    sentence: str


@dataclass(frozen=True, slots=True)
class CreditSettlement:
    """The return's store credit, from the ledger of its code."""

    code: str | None
    due: int
    """What the return earns (the promise while open)."""
    bonus: int
    """The bonus inside ``due``."""
    issued: int
    issued_bonus: int
    taken_back: int
    """Reversed on the code because it was no longer due (and by finance)."""
    uncollectable: int
    """No longer due but already spent: the shopper owes it."""
    spent: int
    expired: int
    balance: int
    issued_at: datetime | None
    state: str
    """none, expected, issued, taken_back, partly_taken_back, uncollectable, owed."""


@dataclass(frozen=True, slots=True)
class LineSettlement:
    line_id: int
    title: str
    quantity: int
    resolution: str
    keep_item: bool
    received: int | None
    accepted: bool | None
    """None until graded (a kept line counts as accepted)."""
    counts: bool
    units: int
    refund: int
    credit: int
    state: str
    """exchange: held, released, shipped, cancelled; store_credit: expected, issued,
    taken_back, uncollectable; refund: expected, requested, approved, paid, declined,
    failed; a line earning nothing: rejected or not_due."""
    exchange_for: str = ""
    exchange_units: int = 0
    price_difference: int = 0
    rejected_reason: str = ""
    summary: str = ""
    """The line in the shopper's words, e.g. ``refund $25.00 (paid)``."""


@dataclass(frozen=True, slots=True)
class MoneyRow:
    """One row of "What you get": label, amount text, and an optional note."""

    label: str
    value: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class Settlement:
    return_id: int
    rma: str
    currency: str
    status: str
    ending: Ending
    keep_all: bool
    lines: tuple[LineSettlement, ...]
    paid: int
    """What the shopper paid for the returned units: the most that may be refunded."""
    label_fee: int
    """The label fee charged (0 when nothing is refunded)."""
    refund_due: int
    """The refund the return earns (the promise while open, 0 when closed unpaid)."""
    refunds: tuple[RefundSettlement, ...]
    refund: RefundSettlement | None
    """The return's current refund (the latest of purpose ``return``)."""
    refunded: int
    """Paid out."""
    refund_in_flight: int
    refundable: int
    """``paid`` less every live refund: what finance could still refund."""
    credit: CreditSettlement
    store_owes: int
    """Money or credit the store still has to give (a refund in flight or failed)."""
    shopper_owes: int
    """Spent credit that was not due, and unpaid exchange differences."""
    headline: str
    tone: str
    """ok, waiting, problem or closed: how the headline reads."""
    status_label: str
    """The pill: the return's status in the shopper's words, honest about the money."""
    final_step: str
    """The last step of the timeline (Refunded, Credited, Exchanged, Resolved, Closed)."""
    details: tuple[str, ...]
    money: tuple[MoneyRow, ...]
    rejected: tuple[LineSettlement, ...]
    show_documents: bool
    """Label and slip are still of use: the parcel has not gone yet."""
    show_tracking: bool
    """The carrier's tracking means something: the parcel is on its way."""
    plan: Plan = field(repr=False)

    @property
    def refund_declined(self) -> bool:
        return self.refund is not None and self.refund.state == "declined"

    @property
    def refund_pending_approval(self) -> bool:
        return self.refund is not None and self.refund.status == _F.PENDING_APPROVAL

    def payload(self) -> dict[str, Any]:
        """What a store's webhook carries about the money (minor units)."""
        return {
            "ending": self.ending,
            "headline": self.headline,
            "refund_due": self.refund_due,
            "refunded": self.refunded,
            "refund_status": str(self.refund.status) if self.refund else None,
            "label_fee": self.label_fee,
            "store_credit_due": self.credit.due,
            "store_credit_bonus": self.credit.bonus,
            "store_credit_issued": self.credit.issued,
            "store_credit_taken_back": self.credit.taken_back,
            "store_credit_uncollectable": self.credit.uncollectable,
            "store_owes": self.store_owes,
            "shopper_owes": self.shopper_owes,
            "rejected_line_ids": [line.line_id for line in self.rejected],
        }


_RESOLUTION_WORDS = {"exchange": "exchange", "store_credit": "store credit", "refund": "refund"}
_REFUND_STATE: dict[str, str] = {
    _F.PENDING_APPROVAL: "requested",
    _F.APPROVED: "approved",
    _F.PROCESSING: "approved",
    _F.SUCCEEDED: "paid",
    _F.REJECTED: "declined",
    _F.FAILED: "failed",
}
_EXCHANGE_STATE: dict[str, str] = {
    _X.RESERVED: "held",
    _X.RELEASED: "released",
    _X.SHIPPED: "shipped",
    _X.CANCELLED: "cancelled",
}
_STATUS_LABELS: dict[str, str] = {
    _R.REQUESTED: "Waiting for review",
    _R.APPROVED: "Approved",
    _R.LABEL_ISSUED: "Label ready",
    _R.IN_TRANSIT: "On its way to us",
    _R.DELIVERED: "Delivered to us",
    _R.RECEIVED: "Received",
    _R.INSPECTED: "Checked",
    _R.COMPLETED: "Completed",
    _R.REJECTED: "Not accepted",
    _R.CANCELLED: "Cancelled",
    _R.EXPIRED: "Expired",
}


def _sentence_end(text: str) -> str:
    text = text.strip()
    return text if not text or text[-1] in ".!?" else text + "."


def _refund_sentence(refund: RefundIn, money: str) -> str:
    """The same dates finance works to, in the shopper's words (never finance's internal
    rejection reason: only the message finance wrote for the shopper)."""
    if refund.status == _F.SUCCEEDED:
        when = nice_date(refund.completed_at) if refund.completed_at else "recently"
        return f"Your refund of {money} was paid on {when}."
    if refund.status == _F.REJECTED:
        return f"Your refund of {money} was declined. " + (
            _sentence_end(refund.shopper_message)
            or "We have e-mailed you about it; please contact us with questions."
        )
    if refund.status == _F.FAILED:
        return f"Your refund of {money} could not be sent yet; our team is sorting it out."
    due = f" by {nice_date(refund.due_at)}" if refund.due_at else ""
    return f"Your refund of {money} goes back to your original payment{due}."


def _credit(
    ret: ReturnIn, entries: Sequence[CreditEntryIn], the_plan: Plan, final: bool
) -> CreditSettlement:
    own = f"return:{ret.rma}:"
    clawback = f"reverse:return:{ret.rma}:"
    issued = sum(e.amount for e in entries if e.kind in ("issue", "bonus"))
    issued_bonus = sum(e.amount for e in entries if e.kind == "bonus")
    clawed = -sum(
        e.amount for e in entries if e.kind == "reverse" and (e.key or "").startswith(clawback)
    )
    reversed_all = -sum(e.amount for e in entries if e.kind == "reverse")
    spent = -sum(e.amount for e in entries if e.kind == "redeem")
    expired = -sum(e.amount for e in entries if e.kind == "expire")
    issue_entries = [e for e in entries if e.kind == "issue" and (e.key or own).startswith(own)]
    code = issue_entries[0].code if issue_entries else (entries[0].code if entries else None)
    issued_at = issue_entries[0].created_at if issue_entries else None
    due = the_plan.credit
    uncollectable = max(0, issued - clawed - due) if final and issued > due else 0
    if issued == 0:
        state = "none" if due == 0 else ("owed" if final else "expected")
    elif uncollectable:
        state = "uncollectable"
    elif due == 0 and clawed > 0:
        state = "taken_back"
    elif clawed > 0:
        state = "partly_taken_back"
    else:
        state = "issued"
    return CreditSettlement(
        code=code,
        due=due,
        bonus=the_plan.bonus,
        issued=issued,
        issued_bonus=issued_bonus,
        taken_back=reversed_all,
        uncollectable=uncollectable,
        spent=spent,
        expired=expired,
        balance=sum(e.amount for e in entries),
        issued_at=issued_at,
        state=state,
    )


def _line(
    line: LineIn,
    lp: LinePlan,
    ending: Ending,
    refund: RefundSettlement | None,
    credit: CreditSettlement,
    fmt: Any,
) -> LineSettlement:
    graded = line.keep_item or line.accepted is not None
    exchange = line.exchange
    rejected = ending == "inspected" and not lp.counts
    what = _RESOLUTION_WORDS.get(line.resolution, line.resolution)
    exchange_for = exchange.variant if exchange else ""
    if line.resolution == "exchange":
        state = _EXCHANGE_STATE.get(exchange.status, "held") if exchange else "cancelled"
        words = {
            "held": "held for you until your parcel reaches us",
            "released": "on its way to you",
            "shipped": "shipped",
            "cancelled": "cancelled",
        }[state]
        summary = f"exchange for {exchange_for}: {words}" if exchange_for else f"exchange: {words}"
    elif line.resolution == "store_credit":
        if rejected or (ending in ("cancelled", "rejected", "expired") and not lp.counts):
            state = {
                "uncollectable": "uncollectable",
                "taken_back": "taken_back",
                "partly_taken_back": "taken_back",
            }.get(credit.state, "rejected" if rejected else "not_due")
        elif credit.issued > 0:
            state = "issued"
        else:
            state = "expected" if ending == "open" else "owed"
        amount = lp.credit if lp.counts else 0
        words = {
            "issued": "issued",
            "expected": "",
            "owed": "to be issued",
            "taken_back": "taken back",
            "uncollectable": "taken back",
            "rejected": "",
            "not_due": "",
        }[state]
        if lp.counts:
            summary = f"store credit {fmt(amount)}" + (f" ({words})" if words else "")
        else:
            earlier = line.store_credit_amount if credit.issued else 0
            summary = "no store credit" + (
                f" (the {fmt(earlier)} issued for it was taken back)"
                if earlier and state in ("taken_back", "uncollectable")
                else ""
            )
    else:
        if not lp.counts and ending != "open":
            state = "rejected" if rejected else "not_due"
            summary = "no refund"
        else:
            state = refund.state if refund is not None else "expected"
            words = {
                "expected": "",
                "requested": "waiting for approval",
                "approved": "on its way",
                "paid": "paid",
                "declined": "declined",
                "failed": "delayed",
            }.get(state, "")
            summary = f"refund {fmt(lp.refund)}" + (f" ({words})" if words else "")
    if rejected:
        why = _sentence_end(line.inspection_note) if line.inspection_note else ""
        if (line.received_quantity or 0) == 0 and not line.inspection_note:
            why = "It did not arrive."
        summary = f"not accepted, so nothing is due for it ({what})." + (
            f" Why: {why}" if why else ""
        )
    elif graded and ending == "inspected" and lp.units < line.quantity:
        summary += f" ({lp.units} of {line.quantity} arrived)"
    return LineSettlement(
        line_id=line.line_id,
        title=line.title,
        quantity=line.quantity,
        resolution=line.resolution,
        keep_item=line.keep_item,
        received=line.quantity if line.keep_item else line.received_quantity,
        accepted=True if line.keep_item else line.accepted,
        counts=lp.counts,
        units=lp.units,
        refund=lp.refund,
        credit=lp.credit,
        state=state,
        exchange_for=exchange_for,
        exchange_units=exchange.quantity if exchange else 0,
        price_difference=exchange.price_difference if exchange else 0,
        rejected_reason=(line.inspection_note or "It did not arrive.") if rejected else "",
        summary=summary,
    )


def settle(
    ret: ReturnIn,
    lines: Sequence[LineIn],
    *,
    credit_entries: Sequence[CreditEntryIn] = (),
    refunds: Sequence[RefundIn] = (),
    as_of: datetime | None = None,
) -> Settlement:
    """The return as every reader shows it (pure: ``as_of`` is only used for wording that
    depends on today, and may be left out)."""
    del as_of  # nothing below depends on today yet; kept so callers pass it
    fmt = lambda amount: format_money(amount, ret.currency)  # noqa: E731
    keep_all = bool(lines) and all(line.keep_item for line in lines)
    ending = ending_of(ret.status, keep_all)
    issued_now = sum(e.amount for e in credit_entries if e.kind in ("issue", "bonus"))
    the_plan = plan(lines, label_fee=ret.label_fee, ending=ending, credit_issued=issued_now)
    final = ending != "open"

    ordered = sorted(refunds, key=lambda r: r.refund_id)
    shown = [
        RefundSettlement(
            refund_id=r.refund_id,
            amount=r.amount,
            status=str(r.status),
            state=_REFUND_STATE.get(r.status, str(r.status)),
            purpose=r.purpose,
            requested_at=r.created_at,
            decided_at=r.decided_at,
            paid_at=r.completed_at if r.status == _F.SUCCEEDED else None,
            due_at=r.due_at,
            shopper_message=r.shopper_message if r.status == _F.REJECTED else "",
            sentence=_refund_sentence(r, fmt(r.amount)),
        )
        for r in ordered
    ]
    main = next((r for r in reversed(shown) if r.purpose == "return"), None)
    refunded = sum(r.amount for r in shown if r.status == _F.SUCCEEDED)
    in_flight = sum(r.amount for r in shown if r.status in _IN_FLIGHT)
    live = sum(r.amount for r in shown if r.status in _LIVE_REFUND)
    paid = sum(line.paid for line in lines)
    credit = _credit(ret, credit_entries, the_plan, final)

    # The refund the return earns: the plan's, unless finance declined it for good.
    refund_due = the_plan.refund
    label_fee = the_plan.label_fee
    if main is not None and main.state == "declined":
        refund_due = 0
    store_owes = 0
    if main is not None and main.state in ("requested", "approved", "failed"):
        store_owes += main.amount
    elif main is None and final and refund_due > 0:
        store_owes += refund_due
    if final and credit.state == "owed":
        store_owes += credit.due
    unpaid_difference = sum(
        line.exchange.price_difference
        for line in lines
        if line.exchange is not None
        and line.exchange.price_difference > 0
        and not line.exchange.payment_reference
        and line.exchange.status != _X.CANCELLED
    )
    shopper_owes = credit.uncollectable + unpaid_difference
    # A cheaper replacement: the difference is the store's to pay back. Nothing pays it out
    # yet (exchanges with price differences are their own piece of work), so it stays owed.
    store_owes += sum(
        -line.exchange.price_difference
        for line in lines
        if line.exchange is not None
        and line.exchange.price_difference < 0
        and line.exchange.status != _X.CANCELLED
    )

    settled_lines = tuple(
        _line(line, lp, ending, main, credit, fmt)
        for line, lp in zip(lines, the_plan.lines, strict=True)
    )
    rejected = tuple(s for s in settled_lines if ending == "inspected" and not s.counts)

    headline, tone = _headline(ret, ending, keep_all, settled_lines, main, credit, refund_due, fmt)
    status_label = _STATUS_LABELS.get(ret.status, str(ret.status).replace("_", " "))
    if ret.status == _R.COMPLETED and main is not None and main.state == "declined":
        status_label = "Refund declined"
    elif (
        ret.status == _R.COMPLETED
        and the_plan.pays_nothing
        and not any(s.resolution == "exchange" and s.counts for s in settled_lines)
    ):
        status_label = "Closed"
    elif ret.status == _R.INSPECTED and main is not None:
        status_label = {
            "requested": "Refund waiting for approval",
            "approved": "Refund on its way",
            "failed": "Refund delayed",
        }.get(main.state, status_label)

    resolutions = {s.resolution for s in settled_lines if s.counts or ending == "open"}
    if (main is not None and main.state == "declined") or (final and not resolutions):
        final_step = "Closed"
    elif resolutions == {"exchange"}:
        final_step = "Exchanged"
    elif resolutions == {"store_credit"}:
        final_step = "Credited"
    elif resolutions == {"refund"}:
        final_step = "Refunded"
    else:
        final_step = "Resolved"

    details = _details(ret, ending, keep_all, settled_lines, shown, credit, refund_due, fmt)
    money = _money(ret, ending, settled_lines, main, credit, refund_due, label_fee, fmt)
    ships_back = not keep_all
    return Settlement(
        return_id=ret.return_id,
        rma=ret.rma,
        currency=ret.currency,
        status=str(ret.status),
        ending=ending,
        keep_all=keep_all,
        lines=settled_lines,
        paid=paid,
        label_fee=label_fee if refund_due > 0 else 0,
        refund_due=refund_due,
        refunds=tuple(shown),
        refund=main,
        refunded=refunded,
        refund_in_flight=in_flight,
        refundable=max(0, paid - live),
        credit=credit,
        store_owes=store_owes,
        shopper_owes=shopper_owes,
        headline=headline,
        tone=tone,
        status_label=status_label,
        final_step=final_step,
        details=details,
        money=money,
        rejected=rejected,
        show_documents=ships_back and ret.status in _OPEN_BEFORE_RECEIPT,
        show_tracking=ships_back and bool(ret.tracking_code) and ret.status in _AWAITING_PARCEL,
        plan=the_plan,
    )


def _credit_tail(credit: CreditSettlement, fmt: Any) -> str:
    if credit.uncollectable:
        return (
            f" {fmt(credit.uncollectable)} of the store credit issued for it had already been "
            "spent; our team may be in touch about it."
        )
    if credit.taken_back and credit.due == 0:
        return f" The {fmt(credit.taken_back)} of store credit issued for it was taken back."
    return ""


def _headline(
    ret: ReturnIn,
    ending: Ending,
    keep_all: bool,
    lines: Sequence[LineSettlement],
    refund: RefundSettlement | None,
    credit: CreditSettlement,
    refund_due: int,
    fmt: Any,
) -> tuple[str, str]:
    """The one sentence at the top of the status page, and its tone."""
    if ending == "rejected":
        why = f": {_sentence_end(ret.closing_reason)}" if ret.closing_reason else "."
        return f"Your return was not accepted{why} Please don't send the items.", "closed"
    if ending == "cancelled":
        tail = _credit_tail(credit, fmt)
        return ("Cancelled: nothing is owed." if not tail else "Cancelled." + tail), "closed"
    if ending == "expired":
        tail = _credit_tail(credit, fmt)
        kept = (
            f" You keep the {fmt(credit.due)} of store credit for the items you keep."
            if credit.due
            else ""
        )
        nothing = " Nothing is owed." if not tail and not kept else ""
        return f"Expired: the parcel wasn't sent in time.{nothing}{kept}{tail}", "closed"
    if ending == "open":
        status = ret.status
        if status == _R.REQUESTED:
            return "Waiting for our team to review your return.", "waiting"
        if keep_all:
            return "Approved: you keep your items.", "waiting"
        if status in (_R.APPROVED, _R.LABEL_ISSUED):
            by = f" by {nice_date(ret.ship_by)}" if ret.ship_by else ""
            return f"Approved: please send your parcel{by}.", "waiting"
        if status == _R.IN_TRANSIT:
            return "Your parcel is on its way to us.", "waiting"
        if status == _R.DELIVERED:
            return "Your parcel has reached us; we'll check it soon.", "waiting"
        return "We've received your parcel and are checking your items.", "waiting"
    # inspected, completed, or settled at approval (every item kept)
    rejected = [s for s in lines if not s.counts]
    note = ""
    if rejected and ending == "inspected":
        note = (
            " We couldn't accept one of your items."
            if len(rejected) == 1
            else f" We couldn't accept {len(rejected)} of your items."
        )
    if refund is not None and refund.purpose == "return":
        money = fmt(refund.amount)
        if refund.state == "declined":
            message = refund.shopper_message.strip().rstrip(".")
            return (
                f"Your refund of {money} was declined"
                + (f": {message}." if message else ".")
                + " Contact us if you have questions."
            ), "problem"
        if refund.state == "failed":
            return (
                f"Your refund of {money} is delayed; our team is sorting it out.{note}",
                "problem",
            )
        if refund.state == "paid":
            when = nice_date(refund.paid_at)
            return f"Refund of {money} sent" + (f" on {when}." if when else ".") + note, "ok"
        if refund.state == "requested":
            return f"Refund of {money} waiting for approval by our team.{note}", "waiting"
        due = f", due by {nice_date(refund.due_at)}" if refund.due_at else ""
        return f"Refund of {money} on its way to your original payment{due}.{note}", "waiting"
    if credit.due > 0:
        if credit.issued > 0:
            return (
                f"Store credit of {fmt(credit.due)} issued; the code is in your e-mail.{note}",
                "ok",
            )
        return f"Store credit of {fmt(credit.due)} on its way to your e-mail.{note}", "waiting"
    going = [s for s in lines if s.resolution == "exchange" and s.counts]
    if going:
        shipped = all(s.state == "shipped" for s in going)
        names = ", ".join(s.exchange_for for s in going if s.exchange_for)
        thing = f"Your replacement ({names})" if names else "Your replacement"
        return f"{thing} {'has shipped' if shipped else 'is on its way'}.{note}", "ok"
    if credit.uncollectable:
        return (
            f"Closed: {fmt(credit.uncollectable)} of store credit that was not due had already "
            "been spent; our team may be in touch.",
            "problem",
        )
    return f"Closed: nothing is owed.{note}", "closed"


def _details(
    ret: ReturnIn,
    ending: Ending,
    keep_all: bool,
    lines: Sequence[LineSettlement],
    refunds: Sequence[RefundSettlement],
    credit: CreditSettlement,
    refund_due: int,
    fmt: Any,
) -> tuple[str, ...]:
    """The sentences under "What you get" (what the page called expectations)."""
    out: list[str] = []
    closed = ending in ("cancelled", "rejected", "expired")
    if closed:
        if credit.taken_back and ending != "expired":
            out.append(
                f"We've taken back the {fmt(credit.taken_back)} of store credit issued for this "
                "return that was still unspent."
            )
        if credit.uncollectable:
            out.append(
                f"{fmt(credit.uncollectable)} of the store credit issued for this return had "
                "already been spent; our team may be in touch about it."
            )
        return tuple(out)
    resolutions = {s.resolution for s in lines}
    days = ret.refund_days
    if keep_all:
        out.append("You keep your items: there is nothing to send back.")
    for s in lines:
        if ending == "inspected" and not s.counts:
            out.append(f"{s.title}: {s.summary}")
    visible = [r for r in refunds if r.state != "failed" or r is refunds[-1]]
    for r in visible:
        out.append(r.sentence)
    if not refunds and refund_due > 0 and days is not None:
        if ret.received_at:
            when = f"by {nice_date(ret.received_at + timedelta(days=days))}"
        elif keep_all:
            when = f"within {days} days of approval"
        else:
            when = f"within {days} days of the parcel reaching us"
        out.append(f"Your refund goes back to your original payment {when}.")
    if "store_credit" in resolutions:
        if ending == "open":
            if ret.store_credit_total and days is not None:
                if keep_all:
                    out.append(
                        "Your store credit is e-mailed to you as soon as the return is approved; "
                        "you can spend it straight away."
                    )
                elif ret.credit_issue == "instant":
                    out.append(
                        "Your store credit is e-mailed to you as soon as the return is approved; "
                        "you can spend it straight away. Credit for an item that doesn't reach "
                        "us or that we can't accept is taken back from what is left on the code."
                    )
                else:
                    out.append(
                        f"Your store credit is e-mailed to you within {days} days of the parcel "
                        "reaching us."
                    )
        else:
            if credit.due and credit.issued:
                out.append(
                    f"Your store credit of {fmt(credit.due)} is ready to spend; we've e-mailed "
                    "you the code."
                )
            elif credit.due:
                out.append(f"Your store credit of {fmt(credit.due)} is being issued.")
            if credit.taken_back:
                out.append(
                    f"We've withdrawn {fmt(credit.taken_back)} of the store credit issued when "
                    "your return was approved, for the items we couldn't accept or that didn't "
                    "arrive."
                )
            if credit.uncollectable:
                out.append(
                    f"{fmt(credit.uncollectable)} of the credit no longer due had already been "
                    "spent; our team may be in touch about it."
                )
    for s in lines:
        if s.resolution != "exchange":
            continue
        thing = f"Your replacement ({s.exchange_for})" if s.exchange_for else "Your replacement"
        if s.state == "held":
            out.append(
                f"{thing} ships as soon as the return is approved."
                if keep_all
                else f"{thing} is held for you and ships once your parcel reaches us."
            )
        elif s.state == "released":
            out.append(f"{thing} is on its way to you.")
        elif s.state == "shipped":
            out.append(f"{thing} has shipped.")
        elif s.state == "cancelled" and ending != "open":
            out.append(f"{thing} is not sent, as the item did not come back as agreed.")
    return tuple(out)


def _money(
    ret: ReturnIn,
    ending: Ending,
    lines: Sequence[LineSettlement],
    refund: RefundSettlement | None,
    credit: CreditSettlement,
    refund_due: int,
    label_fee: int,
    fmt: Any,
) -> tuple[MoneyRow, ...]:
    """ "What you get": only what the shopper gets now (nothing for a closed return)."""
    if ending in ("cancelled", "rejected"):
        return ()
    rows: list[MoneyRow] = []
    if refund is not None and refund.state == "declined":
        rows.append(MoneyRow("Refund", "Declined", f"{fmt(refund.amount)} was not refunded"))
    elif refund_due > 0:
        if label_fee:
            rows.append(MoneyRow("Return label fee", f"−{fmt(label_fee)}"))
        state = refund.state if refund is not None else ("expected" if ending == "open" else "")
        note = {
            "requested": "waiting for approval",
            "approved": "on its way",
            "paid": f"paid {nice_date(refund.paid_at)}" if refund and refund.paid_at else "paid",
            "failed": "delayed",
        }.get(state, "")
        rows.append(MoneyRow("Refund", fmt(refund_due), note))
    if credit.due > 0:
        note = "issued" if credit.issued else ""
        rows.append(MoneyRow("Store credit", fmt(credit.due), note))
    if credit.taken_back and ending != "open":
        rows.append(MoneyRow("Store credit taken back", f"−{fmt(credit.taken_back)}"))
    difference = sum(s.price_difference for s in lines if s.state != "cancelled")
    if difference > 0:
        rows.append(MoneyRow("To pay for your exchange", fmt(difference)))
    elif difference < 0:
        rows.append(MoneyRow("Exchange difference back to you", fmt(-difference)))
    return tuple(rows)


# --- the loader: a few queries, then the pure function --------------------------------------


def _title(order_line: OrderLine) -> str:
    return order_line.title + (f" ({order_line.variant_title})" if order_line.variant_title else "")


async def line_inputs(session: AsyncSession, return_ids: Sequence[int]) -> dict[int, list[LineIn]]:
    """Each return's lines as ``plan`` and ``settle`` take them (one query)."""
    ids = list(return_ids)
    lines: dict[int, list[LineIn]] = {i: [] for i in ids}
    for line, order_line, exchange, variant in (
        await session.exec(
            select(ReturnLine, OrderLine, Exchange, Variant)
            .join(OrderLine, col(OrderLine.id) == ReturnLine.order_line_id)
            .join(Exchange, col(Exchange.return_line_id) == ReturnLine.id, isouter=True)
            .join(Variant, col(Variant.id) == Exchange.variant_id, isouter=True)
            .where(col(ReturnLine.return_id).in_(ids))
            .order_by(col(ReturnLine.id))
        )
    ).all():
        paid = paid_for(
            order_line.unit_price, line.quantity, order_line.discount, order_line.quantity
        )
        lines[line.return_id].append(
            LineIn(
                line_id=id_of(line),
                title=_title(order_line),
                quantity=line.quantity,
                resolution=line.resolution,
                refund_amount=line.refund_amount,
                store_credit_amount=line.store_credit_amount,
                credit_bonus=credit_bonus(
                    line.resolution, line.store_credit_amount, paid, line.restocking_fee
                ),
                paid=paid,
                keep_item=bool(line.decision.get("keep_item")),
                received_quantity=line.received_quantity,
                accepted=line.accepted,
                inspection_note=line.inspection_note,
                exchange=ExchangeIn(
                    exchange_id=id_of(exchange),
                    variant=(variant.title or variant.sku) if variant is not None else "",
                    quantity=exchange.quantity,
                    status=exchange.status,
                    price_difference=exchange.price_difference,
                    payment_reference=exchange.payment_reference,
                    updated_at=exchange.updated_at,
                )
                if exchange is not None
                else None,
            )
        )
    return lines


async def load_settlements(
    session: AsyncSession,
    return_ids: Iterable[int],
    *,
    returns: Mapping[int, Return] | None = None,
    policy_terms: Mapping[int, tuple[int, str]] | None = None,
    as_of: datetime | None = None,
) -> dict[int, Settlement]:
    """The settlement of each return, in five queries whatever their number (plus one for
    declined refunds' messages and one for rejected returns' reasons when there are any).

    ``returns`` saves loading rows the caller has (in its transaction: what it changed is
    what is read); ``policy_terms`` maps a policy version id to (refund days, credit issue
    mode), else they are read from the policies.
    """
    ids = list(dict.fromkeys(return_ids))
    if not ids:
        return {}
    rows: dict[int, Return] = dict(returns or {})
    missing = [i for i in ids if i not in rows]
    if missing:
        for ret in (await session.exec(select(Return).where(col(Return.id).in_(missing)))).all():
            rows[id_of(ret)] = ret
    ids = [i for i in ids if i in rows]
    lines = await line_inputs(session, ids)
    refunds: dict[int, list[Refund]] = {i: [] for i in ids}
    for refund in (
        await session.exec(
            select(Refund).where(col(Refund.return_id).in_(ids)).order_by(col(Refund.id))
        )
    ).all():
        refunds[refund.return_id].append(refund)
    declined = [r.id for rs in refunds.values() for r in rs if r.status == _F.REJECTED]
    messages: dict[int, str] = {}
    if declined:
        for entity_id, data in (
            await session.exec(
                select(AuditEvent.entity_id, AuditEvent.data)
                .where(
                    AuditEvent.entity_type == "refund",
                    col(AuditEvent.entity_id).in_(declined),
                    AuditEvent.action == "rejected",
                )
                .order_by(col(AuditEvent.id))
            )
        ).all():
            messages[int(entity_id)] = str((data or {}).get("shopper_message") or "")
    # The ledger of the codes issued for these returns (key ``return:<rma>:issue``).
    by_key = {f"return:{rows[i].rma}:issue": i for i in ids}
    code_of: dict[int, int] = {}
    for code_id, key in (
        await session.exec(
            select(StoreCreditEntry.code_id, StoreCreditEntry.idempotency_key).where(
                col(StoreCreditEntry.idempotency_key).in_(list(by_key))
            )
        )
    ).all():
        if key is not None:  # (it is: the query matched it)
            code_of[code_id] = by_key[key]
    entries: dict[int, list[CreditEntryIn]] = {i: [] for i in ids}
    if code_of:
        for entry, code in (
            await session.exec(
                select(StoreCreditEntry, StoreCreditCode.code)
                .join(StoreCreditCode, col(StoreCreditCode.id) == StoreCreditEntry.code_id)
                .where(col(StoreCreditEntry.code_id).in_(list(code_of)))
                .order_by(col(StoreCreditEntry.id))
            )
        ).all():
            entries[code_of[entry.code_id]].append(
                CreditEntryIn(
                    kind=entry.kind,
                    amount=entry.amount,
                    code=code,
                    key=entry.idempotency_key,
                    created_at=entry.created_at,
                )
            )
    reasons: dict[int, str] = {}
    rejected_returns = [i for i in ids if rows[i].status == _R.REJECTED]
    if rejected_returns:
        for entity_id, reason in (
            await session.exec(
                select(AuditEvent.entity_id, AuditEvent.reason)
                .where(
                    AuditEvent.entity_type == "return",
                    col(AuditEvent.entity_id).in_(rejected_returns),
                    AuditEvent.to_state == _R.REJECTED,
                )
                .order_by(col(AuditEvent.id))
            )
        ).all():
            reasons[int(entity_id)] = reason or ""
    terms = dict(policy_terms or {})
    versions = {v for i in ids if (v := rows[i].policy_version_id) is not None} - set(terms)
    if versions:
        for version_id in versions:
            try:
                policy = (await policy_ref(session, version_id)).policy
            except LookupError:
                continue
            terms[version_id] = (
                policy.timelines.refund_within_days_of_receipt,
                policy.store_credit.issue,
            )
    out: dict[int, Settlement] = {}
    for i in ids:
        ret = rows[i]
        known = terms.get(ret.policy_version_id) if ret.policy_version_id is not None else None
        days, issue = known or (None, "on_receipt")
        out[i] = settle(
            return_input(
                ret, closing_reason=reasons.get(i, ""), refund_days=days, credit_issue=issue
            ),
            lines[i],
            credit_entries=entries[i],
            refunds=[
                RefundIn(
                    refund_id=id_of(r),
                    amount=r.amount,
                    status=r.status,
                    purpose=r.purpose,
                    created_at=r.created_at,
                    decided_at=r.decided_at,
                    completed_at=r.completed_at,
                    due_at=r.due_at,
                    shopper_message=messages.get(id_of(r), ""),
                )
                for r in refunds[i]
            ],
            as_of=as_of,
        )
    return out


def return_input(
    ret: Return,
    *,
    closing_reason: str = "",
    refund_days: int | None = None,
    credit_issue: str = "on_receipt",
) -> ReturnIn:
    return ReturnIn(
        return_id=id_of(ret),
        rma=ret.rma,
        currency=ret.currency,
        status=ret.status,
        refund_total=ret.refund_total,
        store_credit_total=ret.store_credit_total,
        label_fee=ret.label_fee,
        label_state=ret.label_state,
        tracking_code=ret.tracking_code,
        created_at=ret.created_at,
        approved_at=ret.approved_at,
        received_at=ret.received_at,
        inspected_at=ret.inspected_at,
        completed_at=ret.completed_at,
        closed_at=ret.closed_at,
        ship_by=ret.ship_by,
        closing_reason=closing_reason,
        refund_days=refund_days,
        credit_issue=credit_issue,
    )


async def load_settlement(
    session: AsyncSession, return_id: int, *, ret: Return | None = None
) -> Settlement:
    """One return's settlement (``ret``: the row the caller holds, changes included)."""
    found = await load_settlements(
        session, [return_id], returns={return_id: ret} if ret is not None else None
    )
    if return_id not in found:
        raise LookupError(f"There is no return {return_id}.")
    return found[return_id]
