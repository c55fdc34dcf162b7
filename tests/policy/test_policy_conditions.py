"""Every `when` condition, both when it holds and when it does not."""

from __future__ import annotations

from typing import Any

import pytest

from tests.policy.helpers import first_line, line, request, rules


def matched(when: str, req: dict[str, Any], extra: str = "") -> bool:
    """Whether a single rule with this `when` (YAML flow mapping) matches the first item."""
    compiled = rules(f"- name: R\n  when: {when}\n  then: {{require_review: true}}\n", extra)
    decision = first_line(compiled, req)
    assert decision["eligible"], decision["messages"]
    assert decision["require_review"] is (decision["matched_rules"] == ["R"])
    return decision["matched_rules"] == ["R"]


def item(reason: str) -> list[dict[str, Any]]:
    return [{"line_id": "L1", "quantity": 1, "reason": reason}]


CASES = [
    # product tags, case-insensitive both ways
    ("{tags_any: [Final-Sale, x]}", request([line(tags=["final-sale"])]), True),
    ("{tags_any: [final-sale]}", request([line(tags=["FINAL-SALE"])]), True),
    ("{tags_any: [final-sale]}", request([line(tags=["sale"])]), False),
    ("{tags_any: [final-sale]}", request([line(tags=[])]), False),
    ("{tags_all: [a, B]}", request([line(tags=["A", "b", "c"])]), True),
    ("{tags_all: [a, b]}", request([line(tags=["a"])]), False),
    ("{tags_none: [a]}", request([line(tags=["b"])]), True),
    ("{tags_none: [a]}", request([line(tags=[])]), True),
    ("{tags_none: [a]}", request([line(tags=["A"])]), False),
    # order and customer tags
    ("{order_tags_any: [Gift]}", request(tags=["gift", "x"]), True),
    ("{order_tags_any: [gift]}", request(tags=["wholesale"]), False),
    ("{customer_tags_any: [vip]}", request(customer={"email": "a@b.c", "tags": ["VIP"]}), True),
    ("{customer_tags_any: [vip]}", request(customer={"email": "a@b.c", "tags": ["new"]}), False),
    ("{customer_tags_any: [vip]}", request(customer=None), False),
    # product type and vendor: exact, case-insensitive
    ("{product_type_in: [shirt, pants]}", request([line(product_type="SHIRT")]), True),
    ("{product_type_in: [shirt]}", request([line(product_type="T-Shirt")]), False),
    ("{vendor_in: [ACME]}", request([line(vendor="acme")]), True),
    ("{vendor_in: [Acme]}", request([line(vendor="Acme Corp")]), False),
    # SKU globs
    ('{sku_matches: ["GC-*"]}', request([line(sku="GC-100")]), True),
    ('{sku_matches: ["GC-*"]}', request([line(sku="gc-100")]), True),
    ('{sku_matches: ["GC-*"]}', request([line(sku="XGC-100")]), False),
    ('{sku_matches: ["A-*", "SH?RT-[0-9]"]}', request([line(sku="SHIRT-1")]), True),
    ('{sku_matches: ["SH?RT-[0-9]"]}', request([line(sku="SHIRT-10")]), False),
    # reason
    ("{reason_in: [damaged, changed_mind]}", request(items=item("changed_mind")), True),
    ("{reason_in: [damaged]}", request(items=item("too_small")), False),
    # shipping country
    ("{country_in: [de, AT]}", request(shipping_address={"country": "DE"}), True),
    ("{country_in: [DE]}", request(shipping_address={"country": "de"}), True),
    ("{country_in: [DE]}", request(shipping_address={"country": "US"}), False),
    ("{country_in: [DE]}", request(shipping_address=None), False),
    ("{country_not_in: [US]}", request(shipping_address={"country": "CA"}), True),
    ("{country_not_in: [US]}", request(shipping_address={"country": "US"}), False),
    ("{country_not_in: [US]}", request(shipping_address={}), True),
    # unit price: what was paid per unit after the line's discount, compared exactly
    ("{unit_price_below: 25}", request([line(unit_price=2500)]), False),
    ("{unit_price_below: 25}", request([line(unit_price=2499)]), True),
    ("{unit_price_below: 25.00}", request([line(unit_price=2500, quantity=2, discount=2)]), True),
    # 7500 - 1 over 3 units is 2499.67 per unit: below 25.00, not "at least" it
    ("{unit_price_below: 25}", request([line(unit_price=2500, quantity=3, discount=1)]), True),
    ("{unit_price_at_least: 25}", request([line(unit_price=2500, quantity=3, discount=1)]), False),
    (
        "{unit_price_at_least: 24.99}",
        request([line(unit_price=2500, quantity=3, discount=3)]),
        True,
    ),
    ("{unit_price_at_least: 25}", request([line(unit_price=2500)]), True),
    # order total
    ("{order_total_below: 100}", request(total=9999), True),
    ("{order_total_below: 100}", request(total=10000), False),
    ("{order_total_at_least: 100}", request(total=10000), True),
    ("{order_total_at_least: 100}", request(total=9999), False),
    # discount on the line
    ("{discounted: true}", request([line(discount=1)]), True),
    ("{discounted: true}", request([line(discount=0)]), False),
    ("{discounted: false}", request([line(discount=0)]), True),
    ("{discounted: false}", request([line(discount=500)]), False),
    # days since delivery (delivered 2025-06-04 12:00 UTC)
    ("{days_since_delivery_over: 5}", request(as_of="2025-06-09T23:59:59Z"), False),
    ("{days_since_delivery_over: 5}", request(as_of="2025-06-10T00:00:00Z"), True),
    ("{days_since_delivery_over: 0}", request(as_of="2025-06-04T23:00:00Z"), False),
    ("{days_since_delivery_over: 0}", request(as_of="2025-06-05T00:00:00Z"), True),
    # ... falling back to fulfilment, then to the order date
    (
        "{days_since_delivery_over: 7}",
        request(delivered_at=None, as_of="2025-06-10T00:00:00Z"),
        True,
    ),
    (
        "{days_since_delivery_over: 8}",
        request(delivered_at=None, fulfilled_at=None, as_of="2025-06-10T00:00:00Z"),
        True,
    ),
    (
        "{days_since_delivery_over: 9}",
        request(delivered_at=None, fulfilled_at=None, as_of="2025-06-10T00:00:00Z"),
        False,
    ),
    # any / not / AND / empty
    ("{any: [{tags_any: [a]}, {reason_in: [damaged]}]}", request(items=item("damaged")), True),
    ("{any: [{tags_any: [a]}, {reason_in: [damaged]}]}", request([line(tags=["a"])]), True),
    ("{any: [{tags_any: [a]}, {reason_in: [damaged]}]}", request(), False),
    ("{any: [{tags_any: [a]}, {}]}", request(), True),
    ("{not: {tags_any: [a]}}", request([line(tags=["a"])]), False),
    ("{not: {tags_any: [a]}}", request(), True),
    ("{not: {}}", request(), False),
    ("{not: {any: [{vendor_in: [x]}, {vendor_in: [acme]}]}}", request(), False),
    ("{tags_any: [a], reason_in: [damaged]}", request([line(tags=["a"])]), False),
    (
        "{tags_any: [a], reason_in: [damaged]}",
        request([line(tags=["a"])], items=item("damaged")),
        True,
    ),
    ("{customer_tags_any: [vip], tags_any: [a]}", request([line(tags=["a"])]), False),
    (
        "{customer_tags_any: [vip], tags_any: [a]}",
        request([line(tags=["b"])], customer={"tags": ["vip"]}),
        False,
    ),
    (
        "{customer_tags_any: [vip], tags_any: [a]}",
        request([line(tags=["a"])], customer={"tags": ["vip"]}),
        True,
    ),
    ("{}", request(), True),
]


@pytest.mark.parametrize(("when", "req", "expected"), CASES)
def test_condition(when: str, req: dict[str, Any], expected: bool) -> None:
    assert matched(when, req) is expected


def test_rule_without_when_always_applies() -> None:
    compiled = rules("- name: Always\n  then: {destination: east}\n")
    decision = first_line(compiled, request())
    assert decision["matched_rules"] == ["Always"]
    assert decision["destination"] == "east"


def test_days_since_delivery_counts_days_in_the_policy_time_zone() -> None:
    # Delivered 2025-06-05 02:00 UTC = June 4, 22:00 in New York.
    req = request(delivered_at="2025-06-05T02:00:00Z", as_of="2025-06-10T03:59:59Z")
    # In New York it is still June 9 (5 days after June 4): not over 5 yet.
    assert not matched("{days_since_delivery_over: 5}", req, "timezone: America/New_York\n")
    req["as_of"] = "2025-06-10T04:00:00Z"  # midnight June 10 in New York
    assert matched("{days_since_delivery_over: 5}", req, "timezone: America/New_York\n")
    # The same instants in UTC: June 5 to June 10 is 5 days, never over 5.
    assert not matched("{days_since_delivery_over: 5}", req)


def test_conditions_are_checked_per_line_and_reason() -> None:
    """Order-level parts are checked once per request; line parts still per line."""
    compiled = rules(
        """
        - name: VIP damage
          when: {customer_tags_any: [vip], reason_in: [damaged], tags_any: [fragile]}
          then: {keep_item: true}
        """
    )
    req = request(
        [line("L1", tags=["fragile"]), line("L2", tags=["fragile"]), line("L3")],
        items=[
            {"line_id": "L1", "quantity": 1, "reason": "damaged"},
            {"line_id": "L2", "quantity": 1, "reason": "too_small"},
            {"line_id": "L3", "quantity": 1, "reason": "damaged"},
        ],
        customer={"tags": ["vip"]},
    )
    from tests.policy.helpers import decide

    lines = decide(compiled, req)["lines"]
    assert [li["keep_item"] for li in lines] == [True, False, False]
    req["order"]["customer"]["tags"] = []
    lines = decide(compiled, req)["lines"]
    assert [li["keep_item"] for li in lines] == [False, False, False]
