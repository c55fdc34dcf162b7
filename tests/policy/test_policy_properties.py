"""Hypothesis properties of the evaluator over random policies and requests."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portal.policy.evaluator import CompiledPolicy, compile_policy_text
from tests.policy.helpers import decide

TAGS = ["final-sale", "sale", "fragile", "bulky", "gift", "Clearance"]
REASONS = ["too_small", "changed_mind", "damaged", "wrong_item"]

# (name, YAML body of the rule, is it a deny rule?)
RULE_POOL: list[tuple[str, str, bool]] = [
    ("Final sale", "when: {tags_any: [final-sale]}\n  then: {deny: Final sale.}", True),
    ("Clearance", "when: {tags_any: [clearance], discounted: true}\n  then: {deny: Clearance.}", True),
    ("Gift cards", 'when: {sku_matches: ["GC-*"]}\n  then: {deny: Gift card.}', True),
    ("Abroad", "when: {country_not_in: [US]}\n  then: {deny: Domestic only.}", True),
    ("Late", "when: {days_since_delivery_over: 20}\n  then: {deny: Too late.}", True),
    ("Sale", "when: {discounted: true}\n  then: {resolutions: [exchange, store_credit]}", False),
    ("VIP", "when: {customer_tags_any: [vip]}\n  then: {window_days: 90, waive_fees: true}", False),
    ("Cheap", "when: {unit_price_below: 10}\n  then: {keep_item: true}", False),
    ("Pricey", "when: {unit_price_at_least: 200}\n  then: {require_review: true, restocking_fee_percent: 25}", False),
    ("Big order", "when: {order_total_at_least: 500}\n  then: {store_credit_bonus_percent: 20}", False),
    ("Fragile", "when: {tags_all: [fragile]}\n  then: {require_photo: true, destination: east}", False),
    ("Refund only", "when: {reason_in: [wrong_item]}\n  then: {resolutions: [refund]}", False),
    ("Not bulky", "when: {not: {tags_any: [bulky]}}\n  then: {restocking_fee_percent: 12.5}", False),
    ("Short", "when: {any: [{vendor_in: [acme]}, {order_tags_any: [gift]}]}\n  then: {window_days: 5}", False),
    ("Everyone", "then: {store_credit_bonus_percent: 7}", False),
]  # fmt: skip
DENY_RULES = {name for name, _, deny in RULE_POOL if deny}


@functools.cache
def compiled_policy(rule_ids: tuple[int, ...], top: str) -> CompiledPolicy:
    rules = "".join(f"- name: {RULE_POOL[i][0]}\n  {RULE_POOL[i][1]}\n" for i in rule_ids)
    text = (
        "name: Random\ncurrency: USD\ntimezone: America/Chicago\n"
        "reasons:\n"
        "  - {code: too_small, label: Small}\n"
        "  - {code: changed_mind, label: Changed}\n"
        "  - {code: damaged, label: Damaged, fault: merchant}\n"
        "  - {code: wrong_item, label: Wrong, fault: merchant, requires_photo: true}\n"
        "warehouses: {main: {name: Main, address: a}, east: {name: East, address: b}}\n"
        + top
        + "rules:\n"
        + "".join("  " + row + "\n" for row in rules.splitlines())
    )
    return compile_policy_text(text)


@st.composite
def policies(draw: st.DrawFn) -> CompiledPolicy:
    rule_ids = draw(st.lists(st.integers(0, len(RULE_POOL) - 1), unique=True, max_size=8))
    restocking = draw(st.sampled_from(["0", "10", "15", "33.3", "100"]))
    label_fee = draw(st.sampled_from(["0", "5.95", "100"]))
    bonus = draw(st.sampled_from(["0", "10", "12.5"]))
    cap = draw(st.sampled_from(["", ", bonus_cap: 0", ", bonus_cap: 3", ", bonus_cap: 25"]))
    waive = draw(st.sampled_from(["[]", "[exchange]", "[refund]", "[store_credit, refund]"]))
    resolutions = draw(
        st.sampled_from(["", "resolutions: [refund]\n", "resolutions: [store_credit, exchange]\n"])
    )
    auto = draw(st.sampled_from(["", "approval: {auto_approve_refunds_below: 50}\n"]))
    top = (
        f"fees: {{restocking_percent: {restocking}, label_fee: {label_fee}, waive_for: {waive}}}\n"
        f"store_credit: {{bonus_percent: {bonus}{cap}}}\n{resolutions}{auto}"
    )
    return compiled_policy(tuple(rule_ids), top)


@st.composite
def requests(draw: st.DrawFn) -> dict[str, Any]:
    placed = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(
        seconds=draw(st.integers(0, 365 * 24 * 3600))
    )
    fulfilled = placed + timedelta(hours=draw(st.integers(0, 72)))
    delivered = fulfilled + timedelta(hours=draw(st.integers(0, 240)))
    lines = []
    for index in range(draw(st.integers(1, 4))):
        quantity = draw(st.integers(1, 5))
        unit_price = draw(st.integers(0, 50_000))
        lines.append(
            {
                "id": f"L{index}",
                "sku": draw(st.sampled_from(["GC-25", "TEE-1", "gc-9", "BAG-2"])),
                "title": "Thing",
                "product_type": "Thing",
                "vendor": draw(st.sampled_from(["Acme", "Initech"])),
                "tags": draw(st.lists(st.sampled_from(TAGS), unique=True, max_size=3)),
                "quantity": quantity,
                "unit_price": unit_price,
                # sometimes more discount than the line cost: amounts must still be >= 0
                "discount": draw(st.integers(0, unit_price * quantity + 500)),
                "returned_quantity": draw(st.integers(0, quantity)),
            }
        )
    items = [
        {
            "line_id": li["id"],
            "quantity": draw(st.integers(1, li["quantity"] + 1)),
            "reason": draw(st.sampled_from(REASONS)),
        }
        for li in lines
        if draw(st.booleans()) or li is lines[0]
    ]
    as_of = placed + timedelta(seconds=draw(st.integers(0, 60 * 24 * 3600)))
    return {
        "as_of": as_of.isoformat(),
        "order": {
            "number": "1",
            "currency": "USD",
            "placed_at": placed.isoformat(),
            "fulfilled_at": draw(st.sampled_from([fulfilled.isoformat(), None])),
            "delivered_at": draw(st.sampled_from([delivered.isoformat(), None])),
            "total": draw(st.integers(0, 100_000)),
            "tags": draw(st.lists(st.sampled_from(["gift", "wholesale"]), unique=True)),
            "customer": {"tags": draw(st.lists(st.sampled_from(["vip", "new"]), unique=True))},
            "shipping_address": {"country": draw(st.sampled_from(["US", "CA", "us"]))},
            "lines": lines,
        },
        "items": items,
    }


def paid_for(req: dict[str, Any], item: dict[str, Any]) -> int:
    """What the shopper paid for the requested units, computed independently."""
    line = next(li for li in req["order"]["lines"] if li["id"] == item["line_id"])
    share = line["discount"] * item["quantity"] / line["quantity"]
    rounded = int(share) + (1 if share - int(share) >= 0.5 else 0)
    return max(0, line["unit_price"] * item["quantity"] - rounded)


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(policies(), requests())
def test_amounts_are_never_negative(compiled: CompiledPolicy, req: dict[str, Any]) -> None:
    decision = decide(compiled, req)
    for line in decision["lines"]:
        assert line["restocking_fee"] >= 0
        assert line["refund_amount"] >= 0
        assert line["store_credit_amount"] >= 0
    assert all(
        decision["return"][k] >= 0 for k in ("label_fee", "refund_total", "store_credit_total")
    )


@SETTINGS
@given(policies(), requests())
def test_a_matching_deny_always_wins(compiled: CompiledPolicy, req: dict[str, Any]) -> None:
    decision = decide(compiled, req)
    for line in decision["lines"]:
        denials = DENY_RULES.intersection(line["matched_rules"])
        if denials:
            assert line["eligible"] is False
            assert line["resolutions"] == []
            assert len(line["messages"]) >= len(denials)


DENY_ALL = """\
name: Closed
currency: USD
reasons:
  - {code: too_small, label: Small}
  - {code: changed_mind, label: Changed}
  - {code: damaged, label: Damaged, fault: merchant}
  - {code: wrong_item, label: Wrong, fault: merchant}
warehouses: {main: {name: Main, address: a}}
rules:
  - {name: Long window, then: {window_days: 1000, waive_fees: true}}
  - {name: Closed, then: {deny: Closed.}}
  - {name: After, then: {resolutions: [refund], keep_item: true}}
"""


@SETTINGS
@given(requests())
def test_deny_everything_rule_makes_every_line_ineligible(req: dict[str, Any]) -> None:
    # Generous rules before and after the deny: the deny must still win everywhere.
    decision = decide(compile_policy_text(DENY_ALL), req)
    for line in decision["lines"]:
        assert line["eligible"] is False
        assert line["messages"][0] == "Closed."
        assert line["matched_rules"] == ["Long window", "Closed", "After"]
    assert decision["return"]["eligible"] is False
    assert decision["return"]["refund_total"] == 0


@SETTINGS
@given(policies(), requests())
def test_evaluation_is_deterministic(compiled: CompiledPolicy, req: dict[str, Any]) -> None:
    assert decide(compiled, req) == decide(compiled, req)


@SETTINGS
@given(policies(), requests())
def test_refunds_never_exceed_what_was_paid(compiled: CompiledPolicy, req: dict[str, Any]) -> None:
    decision = decide(compiled, req)
    paid_total = 0
    for item, line in zip(req["items"], decision["lines"], strict=True):
        paid = paid_for(req, item)
        assert line["refund_amount"] <= paid
        if line["eligible"]:
            paid_total += paid
        else:
            assert line["refund_amount"] == line["store_credit_amount"] == 0
    assert decision["return"]["refund_total"] <= paid_total
    assert decision["return"]["refund_total"] == (
        sum(li["refund_amount"] for li in decision["lines"]) - decision["return"]["label_fee"]
    )


@SETTINGS
@given(policies(), requests())
def test_store_credit_bonus_respects_the_cap(compiled: CompiledPolicy, req: dict[str, Any]) -> None:
    decision = decide(compiled, req)
    cap = compiled.bonus_cap
    paid = sum(
        paid_for(req, item)
        for item, line in zip(req["items"], decision["lines"], strict=True)
        if line["eligible"]
    )
    lines_total = sum(li["store_credit_amount"] for li in decision["lines"])
    assert decision["return"]["store_credit_total"] == lines_total
    if cap is not None:
        assert decision["return"]["store_credit_total"] <= paid + cap
