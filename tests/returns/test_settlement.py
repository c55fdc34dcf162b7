"""The settlement, as a pure function: each ending of a return, with the exact amounts and
the words the shopper reads; and a property test that its amounts add up with the ledger,
the refunds and the exchange rows."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from portal.returns.settlement import (
    CreditEntryIn,
    ExchangeIn,
    LineIn,
    RefundIn,
    ReturnIn,
    plan,
    settle,
)

DEC_3 = datetime(2026, 12, 3, 10, tzinfo=UTC)
DEC_8 = datetime(2026, 12, 8, 10, tzinfo=UTC)
RMA = "RMA-AAAAA-BBBBB"


def ret(status: str, **kw) -> ReturnIn:
    return ReturnIn(1, RMA, "USD", status, refund_days=5, **kw)


def tee(**kw) -> LineIn:
    """A tee taken as a refund (25.00), accepted at inspection unless said otherwise."""
    values = dict(
        line_id=1,
        title="Classic Tee (M)",
        quantity=1,
        resolution="refund",
        refund_amount=2500,
        paid=2500,
        received_quantity=1,
        accepted=True,
    )
    values.update(kw)
    return LineIn(**values)


def credit_line(line_id: int, title: str, paid: int, **kw) -> LineIn:
    """A line taken as store credit with the 10% bonus."""
    bonus = paid // 10
    values = dict(
        line_id=line_id,
        title=title,
        quantity=1,
        resolution="store_credit",
        store_credit_amount=paid + bonus,
        credit_bonus=bonus,
        paid=paid,
        received_quantity=1,
        accepted=True,
    )
    values.update(kw)
    return LineIn(**values)


def issued(amount: int, bonus: int, code: str = "CODE-1") -> list[CreditEntryIn]:
    return [
        CreditEntryIn("issue", amount - bonus, code, f"return:{RMA}:issue", DEC_3),
        CreditEntryIn("bonus", bonus, code, f"return:{RMA}:bonus", DEC_3),
    ]


def test_accepted_and_refunded() -> None:
    s = settle(
        ret("completed", refund_total=1905, label_fee=595),
        [tee()],
        refunds=[RefundIn(7, 1905, "succeeded", completed_at=DEC_3, due_at=DEC_8)],
    )
    assert s.headline == "Refund of $19.05 sent on December 3, 2026."
    assert (s.refund_due, s.label_fee, s.refunded, s.paid, s.refundable) == (
        1905,
        595,
        1905,
        2500,
        595,
    )
    assert [(r.label, r.value, r.note) for r in s.money] == [
        ("Return label fee", "−$5.95", ""),
        ("Refund", "$19.05", "paid December 3, 2026"),
    ]
    assert s.details == ("Your refund of $19.05 was paid on December 3, 2026.",)
    assert s.lines[0].summary == "refund $25.00 (paid)"
    assert (s.status_label, s.final_step, s.store_owes, s.shopper_owes) == (
        "Completed",
        "Refunded",
        0,
        0,
    )
    assert not s.show_documents and not s.show_tracking


def test_one_item_rejected_and_its_instant_credit_taken_back() -> None:
    tee_line = credit_line(1, "Classic Tee (M)", 2500)
    scarf = credit_line(
        2,
        "Silk Scarf (Blue)",
        5520,
        accepted=False,
        inspection_note="The scarf has been worn",
    )
    entries = [
        *issued(2750 + 6072, 250 + 552),
        CreditEntryIn("reverse", -6072, "CODE-1", f"reverse:return:{RMA}:inspection", DEC_8),
    ]
    s = settle(
        ret("completed", store_credit_total=8822, credit_issue="instant", tracking_code="SBX1"),
        [tee_line, scarf],
        credit_entries=entries,
    )
    assert s.headline == (
        "Store credit of $27.50 issued; the code is in your e-mail. "
        "We couldn't accept one of your items."
    )
    assert (s.credit.due, s.credit.issued, s.credit.taken_back, s.credit.uncollectable) == (
        2750,
        8822,
        6072,
        0,
    )
    assert s.credit.balance == 2750 and s.credit.code == "CODE-1"
    assert s.lines[0].summary == "store credit $27.50 (issued)"
    assert s.lines[1].state == "taken_back" and s.lines[1].credit == 0
    assert s.lines[1].summary == (
        "not accepted, so nothing is due for it (store credit). Why: The scarf has been worn."
    )
    assert [line.title for line in s.rejected] == ["Silk Scarf (Blue)"]
    assert [(r.label, r.value) for r in s.money] == [
        ("Store credit", "$27.50"),
        ("Store credit taken back", "−$60.72"),
    ]
    assert "We've withdrawn $60.72 of the store credit issued when your return was approved" in (
        " ".join(s.details)
    )
    assert not s.show_tracking  # the parcel arrived: no "Latest: Pre transit"
    assert not s.show_documents  # and no label to download


def test_credit_already_spent_is_owed_by_the_shopper() -> None:
    entries = [
        *issued(2750, 250),
        CreditEntryIn("redeem", -2250, "CODE-1", "redeem:order-9", DEC_3),
        CreditEntryIn("reverse", -500, "CODE-1", f"reverse:return:{RMA}:inspection", DEC_8),
    ]
    s = settle(
        ret("completed", store_credit_total=2750, credit_issue="instant"),
        [credit_line(1, "Classic Tee (M)", 2500, accepted=False, inspection_note="Torn.")],
        credit_entries=entries,
    )
    assert (s.credit.taken_back, s.credit.uncollectable, s.shopper_owes) == (500, 2250, 2250)
    assert s.headline == (
        "Closed: $22.50 of store credit that was not due had already been spent; our team "
        "may be in touch."
    )


def test_refund_declined() -> None:
    message = "The jacket came back with a stain, so we can't refund it."
    s = settle(
        ret("completed", refund_total=25800),
        [tee(refund_amount=25800, paid=25800)],
        refunds=[RefundIn(3, 25800, "rejected", decided_at=DEC_3, shopper_message=message)],
    )
    assert s.headline == (
        "Your refund of $258.00 was declined: The jacket came back with a stain, so we can't "
        "refund it. Contact us if you have questions."
    )
    assert (s.status_label, s.final_step, s.tone) == ("Refund declined", "Closed", "problem")
    assert s.refund_due == 0 and s.store_owes == 0 and s.refundable == 25800
    assert [(r.label, r.value) for r in s.money] == [("Refund", "Declined")]
    assert s.lines[0].summary == "refund $258.00 (declined)"


def test_cancelled() -> None:
    s = settle(
        ret("cancelled", refund_total=4500, label_state="voided", tracking_code="SBX9"),
        [tee(refund_amount=4500, paid=4500, received_quantity=None, accepted=None)],
    )
    assert s.headline == "Cancelled: nothing is owed."
    assert s.money == () and s.details == ()
    assert not s.show_tracking and not s.show_documents
    assert s.lines[0].summary == "no refund" and s.refund_due == 0


def test_cancelled_with_instant_credit_taken_back() -> None:
    entries = [
        *issued(2750, 250),
        CreditEntryIn("reverse", -2750, "CODE-1", f"reverse:return:{RMA}:cancelled", DEC_8),
    ]
    s = settle(
        ret("cancelled", store_credit_total=2750, credit_issue="instant"),
        [credit_line(1, "Classic Tee (M)", 2500, received_quantity=None, accepted=None)],
        credit_entries=entries,
    )
    assert s.headline == "Cancelled. The $27.50 of store credit issued for it was taken back."
    assert s.details == (
        "We've taken back the $27.50 of store credit issued for this return that was still "
        "unspent.",
    )


def test_expired() -> None:
    s = settle(
        ret("expired", refund_total=1905, label_fee=595, tracking_code="SBX2"),
        [tee(received_quantity=None, accepted=None)],
    )
    assert s.headline == "Expired: the parcel wasn't sent in time. Nothing is owed."
    assert s.refund_due == 0 and s.money == () and not s.show_tracking
    assert (s.status_label, s.final_step) == ("Expired", "Closed")


def test_keep_every_item() -> None:
    socks = tee(
        title="Sport Socks (M)",
        refund_amount=1200,
        paid=1200,
        keep_item=True,
        received_quantity=None,
        accepted=None,
    )
    waiting = settle(
        ret("approved", refund_total=1200),
        [socks],
        refunds=[RefundIn(4, 1200, "pending_approval", due_at=DEC_8)],
    )
    assert waiting.headline == "Refund of $12.00 waiting for approval by our team."
    assert waiting.details[0] == "You keep your items: there is nothing to send back."
    assert waiting.label_fee == 0 and not waiting.show_documents
    assert waiting.store_owes == 1200
    paid = settle(
        ret("completed", refund_total=1200),
        [socks],
        refunds=[RefundIn(4, 1200, "succeeded", completed_at=DEC_8)],
    )
    assert paid.headline == "Refund of $12.00 sent on December 8, 2026."
    assert paid.store_owes == 0


def test_exchange_released() -> None:
    line = LineIn(
        line_id=1,
        title="Classic Tee (M)",
        quantity=1,
        resolution="exchange",
        paid=2500,
        received_quantity=1,
        accepted=True,
        exchange=ExchangeIn(5, "L", 1, "released"),
    )
    s = settle(ret("completed"), [line])
    assert s.headline == "Your replacement (L) is on its way."
    assert s.lines[0].summary == "exchange for L: on its way to you"
    assert s.details == ("Your replacement (L) is on its way to you.",)
    assert not any("held" in d for d in s.details)
    assert s.final_step == "Exchanged"
    held = settle(
        ret("in_transit"),
        [
            line.__class__(
                **{
                    **_fields(line),
                    "exchange": ExchangeIn(5, "L", 1, "reserved"),
                    "received_quantity": None,
                    "accepted": None,
                }
            )
        ],
    )
    assert held.lines[0].summary == "exchange for L: held for you until your parcel reaches us"
    assert held.headline == "Your parcel is on its way to us."


def _fields(line: LineIn) -> dict:
    return {name: getattr(line, name) for name in LineIn.__slots__}  # type: ignore[attr-defined]


def test_open_return_tells_the_dates_finance_works_to() -> None:
    s = settle(
        ret("label_issued", refund_total=1905, label_fee=595, tracking_code="SBX3", ship_by=DEC_8),
        [tee(received_quantity=None, accepted=None)],
    )
    assert s.headline == "Approved: please send your parcel by December 8, 2026."
    assert (
        "Your refund goes back to your original payment within 5 days of the parcel "
        "reaching us." in s.details
    )
    assert s.show_documents and s.show_tracking
    assert [(r.label, r.value) for r in s.money] == [
        ("Return label fee", "−$5.95"),
        ("Refund", "$19.05"),
    ]


# --- the property: amounts add up -------------------------------------------------------


@st.composite
def returns(draw):
    n = draw(st.integers(1, 4))
    lines = []
    for i in range(n):
        quantity = draw(st.integers(1, 3))
        paid = draw(st.integers(0, 40000))
        resolution = draw(st.sampled_from(["refund", "store_credit", "exchange"]))
        fee = draw(st.integers(0, paid))
        bonus = draw(st.integers(0, paid // 5)) if resolution == "store_credit" else 0
        keep = draw(st.booleans()) if draw(st.integers(0, 3)) == 0 else False
        received = draw(st.integers(0, quantity))
        accepted = draw(st.booleans()) and received > 0
        exchange = (
            ExchangeIn(100 + i, f"V{i}", quantity, "reserved", draw(st.integers(-500, 500)))
            if resolution == "exchange"
            else None
        )
        lines.append(
            LineIn(
                line_id=i + 1,
                title=f"Item {i}",
                quantity=quantity,
                resolution=resolution,
                refund_amount=paid - fee if resolution == "refund" else 0,
                store_credit_amount=paid - fee + bonus if resolution == "store_credit" else 0,
                credit_bonus=bonus,
                paid=paid,
                keep_item=keep,
                received_quantity=None if keep else received,
                accepted=None if keep else accepted,
                inspection_note="" if accepted else "Not as described.",
                exchange=exchange,
            )
        )
    refund_lines = sum(line.refund_amount for line in lines)
    label_fee = draw(st.integers(0, min(refund_lines, 900)))
    ending = draw(st.sampled_from(["inspected", "kept", "cancelled", "expired"]))
    if ending == "kept":
        lines = [LineIn(**{**_fields(line), "keep_item": True}) for line in lines]
        label_fee = 0
    instant = draw(st.booleans())
    spent = draw(st.integers(0, 100))  # percent of the issued credit spent before the end
    refund_status = draw(
        st.sampled_from(["pending_approval", "approved", "processing", "succeeded", "rejected"])
    )
    return lines, label_fee, ending, instant, spent, refund_status


def _apply(lines, label_fee, ending, instant, spent, refund_status):
    """Carry the plan out on paper, as ``portal.returns.resolution`` does on the database."""
    promise = plan(lines, label_fee=label_fee, ending="open")
    entries: list[CreditEntryIn] = []
    if instant and promise.credit > 0:
        entries += issued(promise.credit, promise.bonus if promise.bonus < promise.credit else 0)
        used = promise.credit * spent // 100
        if used:
            entries.append(CreditEntryIn("redeem", -used, "CODE-1", "redeem:x", DEC_3))
    issued_before = sum(e.amount for e in entries if e.kind in ("issue", "bonus"))
    done = plan(lines, label_fee=label_fee, ending=ending, credit_issued=issued_before)
    if done.take_back:
        balance = sum(e.amount for e in entries)
        taken = min(done.take_back, balance)
        if taken:
            entries.append(
                CreditEntryIn("reverse", -taken, "CODE-1", f"reverse:return:{RMA}:{ending}", DEC_8)
            )
    if done.issue_credit:
        entries += issued(done.issue_credit, done.bonus if done.bonus < done.issue_credit else 0)
    refunds = []
    if done.refund:
        refunds.append(RefundIn(1, done.refund, refund_status, completed_at=DEC_8))
    released = {p.line_id: p.exchange_units for p in done.lines if p.exchange == "release"}
    settled_lines = []
    for line in lines:
        exchange = line.exchange
        if exchange is not None:
            if line.line_id in released:
                exchange = ExchangeIn(
                    exchange.exchange_id,
                    exchange.variant,
                    released[line.line_id],
                    "released",
                    exchange.price_difference,
                )
            else:
                exchange = ExchangeIn(
                    exchange.exchange_id,
                    exchange.variant,
                    exchange.quantity,
                    "cancelled",
                    exchange.price_difference,
                )
        settled_lines.append(LineIn(**{**_fields(line), "exchange": exchange}))
    status = {
        "inspected": "inspected",
        "kept": "approved",
        "cancelled": "cancelled",
        "expired": "expired",
    }[ending]
    if not done.refund or refund_status in ("succeeded", "rejected"):
        status = "completed" if ending in ("inspected", "kept") else status
    return settled_lines, entries, refunds, status, done


@settings(max_examples=300, deadline=None)
@given(returns())
def test_the_settlement_adds_up_with_the_ledger_refunds_and_exchanges(case) -> None:
    lines, label_fee, ending, instant, _spent, refund_status = case
    settled_lines, entries, refunds, status, done = _apply(*case)
    credit_total = sum(line.store_credit_amount for line in lines)
    s = settle(
        ReturnIn(
            1,
            RMA,
            "USD",
            status,
            label_fee=label_fee,
            store_credit_total=credit_total,
            credit_issue="instant" if instant else "on_receipt",
            refund_days=5,
        ),
        settled_lines,
        credit_entries=entries,
        refunds=refunds,
    )
    paid = sum(line.paid for line in lines)
    amounts = [
        s.paid,
        s.label_fee,
        s.refund_due,
        s.refunded,
        s.refund_in_flight,
        s.refundable,
        s.credit.due,
        s.credit.issued,
        s.credit.taken_back,
        s.credit.uncollectable,
        s.credit.spent,
        s.credit.balance,
        s.store_owes,
        s.shopper_owes,
    ]
    assert all(a >= 0 for a in amounts), amounts
    for line in s.lines:
        assert line.refund >= 0 and line.credit >= 0
    # Never more than was paid, nor more than the frozen decision.
    assert s.paid == paid
    assert s.refund_due + s.refunded <= paid + s.refunded  # refund_due itself is ≤ paid
    assert s.refund_due <= paid and s.refunded <= paid
    assert s.credit.due <= credit_total
    assert s.refundable == paid - sum(r.amount for r in refunds if r.status != "rejected")
    # The refund is the accepted refund lines less the (capped) label fee, unless declined.
    shares = sum(line.refund for line in s.lines)
    if refund_status == "rejected" and done.refund:
        assert s.refund_due == 0
    else:
        assert s.refund_due == max(0, shares - s.plan.label_fee) == done.refund
        assert s.refund_due + s.plan.label_fee == shares
    assert s.refunded == sum(r.amount for r in refunds if r.status == "succeeded")
    # The ledger: what the shopper keeps is what is due plus what they owe (spent, not due).
    assert s.credit.balance == sum(e.amount for e in entries)
    assert s.credit.issued == sum(e.amount for e in entries if e.kind in ("issue", "bonus"))
    if s.credit.issued:
        kept = s.credit.issued - s.credit.taken_back
        assert kept == s.credit.due + s.credit.uncollectable
        assert s.credit.issued <= credit_total
    assert s.credit.bonus <= s.credit.due
    # Exchanges: released exactly for the lines that count, never more units than held.
    for line, before in zip(s.lines, lines, strict=True):
        if before.exchange is None:
            continue
        assert line.state == (
            "released" if line.counts and ending in ("inspected", "kept") else "cancelled"
        )
        assert line.exchange_units <= before.exchange.quantity
        if line.state == "released":
            assert line.exchange_units == min(line.units, before.exchange.quantity) > 0


def test_a_cheaper_replacement_leaves_the_store_owing_the_difference() -> None:
    """A $25.00 tee exchanged for a $21.00 one: the page promises $4.00 back, so the
    settlement counts it as owed by the store until it is paid out."""
    line = LineIn(
        line_id=1,
        title="Classic Tee (M)",
        quantity=1,
        resolution="exchange",
        paid=2500,
        received_quantity=1,
        accepted=True,
        exchange=ExchangeIn(5, "Plain Tee (M)", 1, "released", price_difference=-400),
    )
    s = settle(ret("completed"), [line])
    assert s.store_owes == 400 and s.shopper_owes == 0
    assert any(r.label == "Exchange difference back to you" and r.value == "$4.00" for r in s.money)
    cancelled = settle(
        ret("cancelled"),
        [
            LineIn(
                **{
                    **_fields(line),
                    "exchange": ExchangeIn(
                        5, "Plain Tee (M)", 1, "cancelled", price_difference=-400
                    ),
                }
            )
        ],
    )
    assert cancelled.store_owes == 0
