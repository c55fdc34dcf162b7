"""Money: discounts, fees, bonuses, label fee, totals, approval and review."""

from __future__ import annotations

import pytest

from portal.policy.evaluator import round_half_up
from tests.policy.helpers import decide, first_line, line, policy, request, rules

FEES = """
fees: {restocking_percent: 10, label_fee: 5.95}
store_credit: {bonus_percent: 10}
"""


@pytest.mark.parametrize(
    ("numerator", "denominator", "expected"),
    [(0, 3, 0), (1, 3, 0), (3, 2, 2), (5, 2, 3), (149, 100, 1), (150, 100, 2), (7, 7, 1)],
)
def test_round_half_up(numerator: int, denominator: int, expected: int) -> None:
    assert round_half_up(numerator, denominator) == expected


@pytest.mark.parametrize(
    ("quantity", "paid"),
    [
        (1, 1000 - 33),  # 100 * 1 / 3 = 33.3 -> 33
        (2, 2000 - 67),  # 100 * 2 / 3 = 66.7 -> 67
        (3, 3000 - 100),
    ],
)
def test_line_discount_is_spread_evenly_over_units(quantity: int, paid: int) -> None:
    compiled = policy("store_credit: {bonus_percent: 0}\n")
    req = request(
        [line(unit_price=1000, quantity=3, discount=100)],
        items=[{"line_id": "L1", "quantity": quantity, "reason": "too_small"}],
    )
    decision = first_line(compiled, req)
    assert decision["refund_amount"] == paid
    assert decision["store_credit_amount"] == paid


def test_discount_share_rounds_half_up() -> None:
    # 3 cents of discount over 2 units: one unit carries 1.5 -> 2 cents
    req = request([line(unit_price=1000, quantity=2, discount=3)])
    assert first_line(policy(), req)["refund_amount"] == 998


def test_restocking_fee_rounds_half_up_and_comes_off_refund_and_store_credit() -> None:
    compiled = policy("fees: {restocking_percent: 15}\n")
    # 15% of 1999 = 299.85 -> 300; 15% of 10 = 1.5 -> 2
    decision = first_line(compiled, request([line(unit_price=1999)]))
    assert decision["restocking_fee"] == 300
    assert decision["refund_amount"] == 1699
    assert decision["store_credit_amount"] == 1699
    assert first_line(compiled, request([line(unit_price=10)]))["restocking_fee"] == 2


def test_fees_waived_for_a_resolution_are_not_deducted_from_it() -> None:
    compiled = policy("fees: {restocking_percent: 20, waive_for: [store_credit]}\n")
    decision = first_line(compiled, request([line(unit_price=5000)]))
    assert decision["restocking_fee"] == 1000
    assert decision["refund_amount"] == 4000
    assert decision["store_credit_amount"] == 5000


def test_merchant_fault_reason_pays_no_fees() -> None:
    compiled = policy(FEES)
    req = request(
        [line(unit_price=5000)], items=[{"line_id": "L1", "quantity": 1, "reason": "damaged"}]
    )
    decision = decide(compiled, req)
    assert decision["lines"][0]["restocking_fee"] == 0
    assert decision["lines"][0]["refund_amount"] == 5000
    assert decision["return"]["label_fee"] == 0
    assert decision["return"]["refund_total"] == 5000


def test_store_credit_bonus_is_on_what_was_paid_and_rounds_half_up() -> None:
    compiled = policy("store_credit: {bonus_percent: 10}\n")
    assert first_line(compiled, request([line(unit_price=2500)]))["store_credit_amount"] == 2750
    # 10% of 15 = 1.5 -> 2
    assert first_line(compiled, request([line(unit_price=15)]))["store_credit_amount"] == 17


def test_bonus_cap_limits_the_total_and_is_shared_across_lines() -> None:
    compiled = policy("store_credit: {bonus_percent: 10, bonus_cap: 25}\n")
    req = request([line("A", unit_price=30000), line("B", unit_price=6000)])
    decision = decide(compiled, req)
    # bonuses 3000 + 600 = 3600, capped at 2500: shared 2083.33 / 416.67 -> 2083 / 417
    assert [li["store_credit_amount"] for li in decision["lines"]] == [32083, 6417]
    assert decision["return"]["store_credit_total"] == 36000 + 2500
    # refunds are untouched by the bonus cap
    assert decision["return"]["refund_total"] == 36000


def test_bonus_under_the_cap_is_untouched() -> None:
    compiled = policy("store_credit: {bonus_percent: 10, bonus_cap: 25}\n")
    decision = decide(compiled, request([line("A", unit_price=10000), line("B", unit_price=5000)]))
    assert [li["store_credit_amount"] for li in decision["lines"]] == [11000, 5500]
    assert decision["return"]["store_credit_total"] == 16500


def test_zero_bonus_cap_removes_every_bonus() -> None:
    compiled = policy("store_credit: {bonus_percent: 10, bonus_cap: 0}\n")
    decision = decide(compiled, request([line("A"), line("B")]))
    assert [li["store_credit_amount"] for li in decision["lines"]] == [2500, 2500]


# -- label fee ---------------------------------------------------------------


def label(extra_rules: str = "[]", *, fees: str = FEES, **req) -> dict:
    compiled = rules(extra_rules, fees)
    return decide(compiled, request(**req))["return"]


def test_label_fee_is_charged_and_taken_from_the_refund() -> None:
    totals = label(lines=[line(unit_price=2500)])
    # restocking 10% -> refund 2250, minus the 595 label
    assert totals["label_fee"] == 595
    assert totals["refund_total"] == 2250 - 595


def test_no_label_fee_when_nothing_ships_back() -> None:
    totals = label("- {name: Keep, when: {}, then: {keep_item: true}}\n")
    assert totals["label_fee"] == 0
    assert totals["refund_total"] == 2250


def test_one_line_shipping_back_is_enough_for_a_label_fee() -> None:
    totals = label(
        "- {name: Keep, when: {tags_any: [k]}, then: {keep_item: true}}\n",
        lines=[line("A", tags=["k"]), line("B")],
    )
    assert totals["label_fee"] == 595


def test_no_label_fee_when_any_eligible_line_is_merchant_fault() -> None:
    totals = label(
        lines=[line("A"), line("B")],
        items=[
            {"line_id": "A", "quantity": 1, "reason": "too_small"},
            {"line_id": "B", "quantity": 1, "reason": "damaged"},
        ],
    )
    assert totals["label_fee"] == 0
    assert totals["refund_total"] == 2250 + 2500


def test_an_ineligible_merchant_fault_line_does_not_waive_the_label_fee() -> None:
    totals = label(
        "- {name: No, when: {tags_any: [final]}, then: {deny: Final.}}\n",
        lines=[line("A"), line("B", tags=["final"])],
        items=[
            {"line_id": "A", "quantity": 1, "reason": "too_small"},
            {"line_id": "B", "quantity": 1, "reason": "damaged"},
        ],
    )
    assert totals["label_fee"] == 595


def test_no_label_fee_when_a_line_has_waive_fees() -> None:
    totals = label(
        "- {name: Free, when: {tags_any: [free]}, then: {waive_fees: true}}\n",
        lines=[line("A"), line("B", tags=["free"])],
    )
    assert totals["label_fee"] == 0


def test_no_label_fee_when_refund_is_in_waive_for() -> None:
    totals = label(fees="fees: {label_fee: 5.95, waive_for: [refund]}\n")
    assert totals["label_fee"] == 0
    assert totals["refund_total"] == 2500


def test_label_fee_never_exceeds_the_refunds() -> None:
    totals = label(fees="fees: {label_fee: 5.95}\n", lines=[line(unit_price=300)])
    assert totals["label_fee"] == 300
    assert totals["refund_total"] == 0
    assert totals["needs_approval"] is False


def test_no_label_fee_when_no_refund_is_offered() -> None:
    totals = label("- {name: Credit only, when: {}, then: {resolutions: [store_credit]}}\n")
    assert totals["label_fee"] == 0
    assert totals["refund_total"] == 0
    assert totals["store_credit_total"] == 2500 - 250 + 250


def test_no_label_fee_when_nothing_is_eligible() -> None:
    totals = label("- {name: No, when: {}, then: {deny: No.}}\n")
    assert totals == {
        "eligible": False,
        "label_fee": 0,
        "refund_total": 0,
        "store_credit_total": 0,
        "needs_approval": False,
        "require_review": False,
    }


# -- approval and review -------------------------------------------------------


@pytest.mark.parametrize(
    ("approval", "unit_price", "needs"),
    [
        ("", 100, True),  # no threshold: every refund needs approval
        ("approval: {auto_approve_refunds_below: 100}\n", 9999, False),
        ("approval: {auto_approve_refunds_below: 100}\n", 10000, True),
        ("approval: {auto_approve_refunds_below: 100}\n", 0, False),
        ("", 0, False),  # nothing to refund, nothing to approve
    ],
)
def test_needs_approval(approval: str, unit_price: int, needs: bool) -> None:
    totals = decide(policy(approval), request([line(unit_price=unit_price)]))["return"]
    assert totals["refund_total"] == unit_price
    assert totals["needs_approval"] is needs


def test_customer_tag_makes_the_return_need_review() -> None:
    compiled = policy("approval: {always_review_customer_tags: [fraud-watch]}\n")
    assert decide(compiled, request())["return"]["require_review"] is False
    flagged = request(customer={"email": "x@y.z", "tags": ["Fraud-Watch"]})
    decision = decide(compiled, flagged)
    assert decision["return"]["require_review"] is True
    assert decision["lines"][0]["require_review"] is False


def test_return_is_eligible_when_one_line_is() -> None:
    compiled = rules("- {name: No, when: {tags_any: [x]}, then: {deny: No.}}\n")
    decision = decide(compiled, request([line("A", tags=["x"]), line("B")]))
    assert [li["eligible"] for li in decision["lines"]] == [False, True]
    assert decision["return"]["eligible"] is True
    assert decision["return"]["refund_total"] == 2500


# -- currency and negative amounts ----------------------------------------------


def test_order_in_another_currency_is_ineligible_on_every_line() -> None:
    compiled = rules("- {name: Any, when: {}, then: {require_review: true}}\n", FEES)
    decision = decide(compiled, request([line("A"), line("B")], currency="EUR"))
    message = "This order was paid in EUR, but this return policy only covers orders paid in USD."
    for only in decision["lines"]:
        assert only["eligible"] is False
        assert only["messages"] == [message]
        assert only["resolutions"] == []
        assert only["refund_amount"] == only["store_credit_amount"] == 0
        assert only["matched_rules"] == []
    assert decision["return"]["eligible"] is False
    assert decision["return"]["refund_total"] == 0


def test_currency_code_case_does_not_matter() -> None:
    assert first_line(policy(), request(currency="usd"))["eligible"] is True


def test_amounts_are_never_negative_even_when_the_discount_exceeds_the_price() -> None:
    compiled = policy(FEES)
    decision = decide(compiled, request([line(unit_price=100, quantity=1, discount=500)], total=0))
    only = decision["lines"][0]
    assert only["refund_amount"] == 0
    assert only["store_credit_amount"] == 0
    assert only["restocking_fee"] == 0
    assert decision["return"]["refund_total"] == 0
    assert decision["return"]["label_fee"] == 0


def test_jpy_policy_works_in_whole_yen() -> None:
    compiled = policy(
        "fees: {label_fee: 500, restocking_percent: 10}\n",
        base=(
            "name: JP\ncurrency: JPY\nreasons: [{code: too_small, label: Small}]\n"
            "warehouses: {tokyo: {name: Tokyo, address: Tokyo}}\n"
        ),
    )
    totals = decide(compiled, request([line(unit_price=3333)], currency="JPY"))["return"]
    # 10% of 3333 = 333.3 -> 333; refund 3000; label 500
    assert totals["label_fee"] == 500
    assert totals["refund_total"] == 2500
