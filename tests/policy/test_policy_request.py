"""Validating evaluation requests."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from portal.policy.evaluator import evaluate
from portal.policy.request import (
    EvaluationRequest,
    Item,
    Order,
    OrderLine,
    RequestError,
    parse_request,
    parse_request_json,
)
from tests.policy.helpers import decide, line, policy, request


def problems(data: object, codes: list[str] | None = None) -> list[str]:
    with pytest.raises(RequestError) as caught:
        parse_request(data, codes)
    return caught.value.problems


def test_unknown_line_id() -> None:
    req = request(items=[{"line_id": "L9", "quantity": 1, "reason": "too_small"}])
    assert problems(req) == ["items[0].line_id 'L9' is not a line of this order (lines: L1)"]


def test_quantity_below_one() -> None:
    req = request(items=[{"line_id": "L1", "quantity": 0, "reason": "too_small"}])
    assert problems(req) == ["items[0].quantity must be at least 1 (got 0)"]


def test_unknown_reason_code_when_the_policy_is_known() -> None:
    req = request(items=[{"line_id": "L1", "quantity": 1, "reason": "bored"}])
    assert problems(req, ["too_small", "damaged"]) == [
        "items[0].reason 'bored' is not a reason this policy knows (use one of: damaged, too_small)"
    ]


def test_evaluate_rejects_unknown_reason_codes_itself() -> None:
    req = request(items=[{"line_id": "L1", "quantity": 1, "reason": "bored"}])
    with pytest.raises(RequestError, match="'bored' is not a reason this policy knows"):
        decide(policy(), req)


def test_every_problem_is_reported_together() -> None:
    req = request(items=[{"line_id": "L9", "quantity": "two", "reason": None}])
    req["as_of"] = "yesterday"
    req["order"]["currency"] = None
    found = problems(req)
    assert found == [
        "as_of is not an ISO 8601 timestamp: 'yesterday'",
        "order.currency is required",
        'items[0].quantity must be a whole number, not "two"',
        "items[0].reason is required",
        "items[0].line_id 'L9' is not a line of this order (lines: L1)",
    ]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda r: r.pop("items"), "items must be a non-empty list"),
        (lambda r: r.update(items=[]), "items must be a non-empty list"),
        (lambda r: r.pop("order"), "order is required"),
        (lambda r: r["order"].update(lines=[]), "order.lines must be a non-empty list"),
        (
            lambda r: r["order"]["lines"][0].pop("unit_price"),
            "order.lines[0].unit_price is required",
        ),
        (
            lambda r: r["order"]["lines"][0].update(discount=-1),
            "order.lines[0].discount must be at",
        ),
        (
            lambda r: r["order"]["lines"][0].update(unit_price=9.99),
            "unit_price must be a whole number",
        ),
        (lambda r: r["order"].update(placed_at=None), "order.placed_at is required"),
        (lambda r: r["order"].update(tags=[1]), "order.tags must be a list of tags"),
        (lambda r: r["order"].update(customer="vip"), "order.customer must be an object"),
        (lambda r: r["order"]["lines"].append(line("L1")), "repeats the line id 'L1'"),
    ],
)
def test_structural_problems(mutate, expected: str) -> None:
    req = request()
    mutate(req)
    assert any(expected in p for p in problems(req)), problems(req)


def test_not_an_object() -> None:
    assert problems([1, 2]) == ["the request must be a JSON object with as_of, order and items"]


def test_invalid_json_text() -> None:
    with pytest.raises(RequestError, match="not valid JSON"):
        parse_request_json("{not json")


def test_timestamps_without_offset_are_utc_and_tags_may_be_a_string() -> None:
    req = request(as_of="2025-06-10T12:00:00", tags="gift, Holiday ,")
    parsed = parse_request(req)
    assert parsed.as_of == datetime(2025, 6, 10, 12, tzinfo=UTC)
    assert parsed.order.tags == ("gift", "Holiday")
    assert parsed.order.tags_lower == frozenset({"gift", "holiday"})


def test_missing_total_is_what_the_lines_cost() -> None:
    req = request([line(unit_price=1000, quantity=2, discount=100), line("L2", unit_price=500)])
    del req["order"]["total"]
    assert parse_request(req).order.total == 1900 + 500


def test_numeric_ids_are_accepted_as_text() -> None:
    req = request([line(7)], items=[{"line_id": 7, "quantity": 1, "reason": "too_small"}])
    parsed = parse_request(req)
    assert parsed.items[0].line_id == "7"
    assert "7" in parsed.order.lines_by_id


def test_requests_built_in_code_get_their_derived_fields() -> None:
    """Dataclasses built directly (not parsed) still evaluate correctly."""
    built = EvaluationRequest(
        as_of=datetime(2025, 6, 10, tzinfo=UTC),
        order=Order(
            number="1",
            currency="USD",
            placed_at=datetime(2025, 6, 1, tzinfo=UTC),
            total=2500,
            lines=(OrderLine(id="L1", quantity=1, unit_price=2500, tags=("Sale",), vendor="ACME"),),
        ),
        items=(Item(line_id="L1", quantity=1, reason="too_small"),),
    )
    compiled = policy(
        "rules:\n  - {name: R, when: {tags_any: [sale], vendor_in: [acme]}, then: {keep_item: true}}\n"
    )
    assert evaluate(compiled, built).lines[0].keep_item is True


def test_evaluate_validates_hand_built_requests() -> None:
    bad = EvaluationRequest(
        as_of=datetime(2025, 6, 10, tzinfo=UTC),
        order=Order(
            number="1",
            currency="USD",
            placed_at=datetime(2025, 6, 1, tzinfo=UTC),
            total=0,
            lines=(OrderLine(id="L1", quantity=1, unit_price=2500),),
        ),
        items=(Item(line_id="L2", quantity=1, reason="too_small"),),
    )
    with pytest.raises(RequestError, match="not a line of this order"):
        evaluate(policy(), bad)
