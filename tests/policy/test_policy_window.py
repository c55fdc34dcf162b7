"""The return window: time zones, DST, fallbacks, extensions, quantities."""

from __future__ import annotations

import pytest

from portal.policy.evaluator import CompiledPolicy
from tests.policy.helpers import decide, first_line, line, policy, request


def window(days: int, tz: str = "UTC", start: str = "delivered", extra: str = "") -> CompiledPolicy:
    return policy(f"timezone: {tz}\nwindow: {{days: {days}, from: {start}}}\n{extra}")


def test_default_window_is_30_days_from_delivery() -> None:
    compiled = policy()
    # delivered 2025-06-04 12:00 UTC -> last day 2025-07-04
    assert first_line(compiled, request(as_of="2025-07-04T23:59:59Z"))["eligible"] is True
    late = first_line(compiled, request(as_of="2025-07-05T00:00:00Z"))
    assert late["eligible"] is False
    assert late["deadline"] == "2025-07-04"
    assert late["messages"] == ["The return window for this item closed on 2025-07-04."]
    assert late["resolutions"] == []
    assert late["refund_amount"] == 0


def test_window_ends_at_midnight_in_the_policy_time_zone() -> None:
    compiled = window(30, "America/New_York")
    # Delivered June 5 02:00 UTC = June 4 22:00 EDT, so the window starts on June 4
    # in New York and ends at the end of July 4, New York time (04:00 UTC July 5).
    req = request(delivered_at="2025-06-05T02:00:00Z", as_of="2025-07-05T03:59:59Z")
    inside = first_line(compiled, req)
    assert inside["eligible"] is True
    assert inside["deadline"] == "2025-07-04"
    req["as_of"] = "2025-07-05T04:00:00Z"
    assert first_line(compiled, req)["eligible"] is False
    # The same instants under a UTC policy: the window starts June 5, ends July 5.
    utc = first_line(window(30), req)
    assert utc["eligible"] is True
    assert utc["deadline"] == "2025-07-05"


def test_window_across_spring_forward() -> None:
    # Berlin moves from +01:00 to +02:00 on 2025-03-30. Delivered 2025-03-29 23:30 UTC
    # = March 30, 00:30 local; one day later ends at the end of March 31 local time,
    # which is 22:00 UTC (not 23:00 as a fixed +01:00 offset would say).
    compiled = window(1, "Europe/Berlin")
    req = request(
        placed_at="2025-03-20T10:00:00Z",
        fulfilled_at="2025-03-25T10:00:00Z",
        delivered_at="2025-03-29T23:30:00Z",
        as_of="2025-03-31T21:59:59Z",
    )
    decision = first_line(compiled, req)
    assert decision["eligible"] is True
    assert decision["deadline"] == "2025-03-31"
    req["as_of"] = "2025-03-31T22:00:00Z"
    assert first_line(compiled, req)["eligible"] is False


def test_window_across_fall_back() -> None:
    # New York leaves daylight time on 2025-11-02. Delivered Oct 31 (local), two days
    # -> the end of Nov 2 local = Nov 3 05:00 UTC (EST), not 04:00 UTC (EDT).
    compiled = window(2, "America/New_York")
    req = request(
        placed_at="2025-10-25T12:00:00Z",
        fulfilled_at="2025-10-27T12:00:00Z",
        delivered_at="2025-10-31T12:00:00Z",
        as_of="2025-11-03T04:59:59Z",
    )
    assert first_line(compiled, req)["eligible"] is True
    req["as_of"] = "2025-11-03T05:00:00Z"
    late = first_line(compiled, req)
    assert late["eligible"] is False
    assert late["deadline"] == "2025-11-02"


def test_zero_day_window_allows_the_day_of_delivery_only() -> None:
    compiled = window(0)
    assert first_line(compiled, request(as_of="2025-06-04T23:59:59Z"))["eligible"] is True
    assert first_line(compiled, request(as_of="2025-06-05T00:00:00Z"))["eligible"] is False


@pytest.mark.parametrize(
    ("start", "dates", "deadline"),
    [
        ("delivered", {}, "2025-06-14"),
        ("delivered", {"delivered_at": None}, "2025-06-12"),
        ("delivered", {"delivered_at": None, "fulfilled_at": None}, "2025-06-11"),
        ("fulfilled", {}, "2025-06-12"),
        ("fulfilled", {"fulfilled_at": None}, "2025-06-11"),
        ("fulfilled", {"fulfilled_at": None, "delivered_at": None}, "2025-06-11"),
        ("ordered", {}, "2025-06-11"),
    ],
)
def test_window_start_and_fallbacks(start: str, dates: dict, deadline: str) -> None:
    # placed June 1, fulfilled June 2, delivered June 4 (all 12:00 UTC); 10-day window
    compiled = window(10, start=start)
    assert first_line(compiled, request(**dates))["deadline"] == deadline


EXTENSIONS = """extensions:
  - {ordered_from: 2025-11-15, ordered_to: 2025-12-31, until: 2026-01-31}
  - {ordered_from: 2025-12-20, ordered_to: 2025-12-24, until: 2026-02-15}
  - {ordered_from: 2025-06-01, ordered_to: 2025-06-30, until: 2025-06-05}
"""


def holiday_order(placed_at: str, as_of: str) -> dict:
    return request(
        placed_at=placed_at,
        fulfilled_at="2025-12-26T12:00:00Z",
        delivered_at="2025-12-28T12:00:00Z",
        as_of=as_of,
    )


def test_extension_moves_the_deadline_for_orders_placed_in_its_span() -> None:
    compiled = window(30, "America/New_York", extra=EXTENSIONS)
    req = holiday_order("2025-12-10T15:00:00Z", "2026-01-31T12:00:00Z")
    decision = first_line(compiled, req)
    assert decision["eligible"] is True
    assert decision["deadline"] == "2026-01-31"
    req["as_of"] = "2026-02-01T05:00:00Z"  # Feb 1 00:00 in New York
    assert first_line(compiled, req)["eligible"] is False


def test_latest_matching_extension_wins() -> None:
    compiled = window(30, "America/New_York", extra=EXTENSIONS)
    decision = first_line(compiled, holiday_order("2025-12-22T15:00:00Z", "2026-02-10T12:00:00Z"))
    assert decision["eligible"] is True
    assert decision["deadline"] == "2026-02-15"


def test_extension_uses_the_order_date_in_the_policy_time_zone() -> None:
    compiled = window(30, "America/New_York", extra=EXTENSIONS)
    # 2025-11-15 03:00 UTC is still November 14 in New York: not in the span.
    decision = first_line(compiled, holiday_order("2025-11-15T03:00:00Z", "2026-01-28T12:00:00Z"))
    assert decision["deadline"] == "2026-01-27"
    assert decision["eligible"] is False


def test_extension_never_shortens_a_window() -> None:
    compiled = window(30, extra=EXTENSIONS)
    # placed in June (extension until June 5), delivered June 4 -> 30 days still apply
    assert first_line(compiled, request(as_of="2025-07-01T00:00:00Z"))["deadline"] == "2025-07-04"


def test_denied_line_has_no_deadline_and_no_window_message() -> None:
    compiled = policy(
        "window: {days: 1}\nrules:\n  - {name: No, when: {tags_any: [x]}, then: {deny: Nope.}}\n"
    )
    decision = first_line(compiled, request([line(tags=["x"])], as_of="2026-01-01T00:00:00Z"))
    assert decision["deadline"] is None
    assert decision["messages"] == ["Nope."]


def test_quantity_beyond_what_is_still_returnable_is_ineligible() -> None:
    compiled = policy()
    req = request(
        [line(quantity=3, returned_quantity=1)],
        items=[{"line_id": "L1", "quantity": 3, "reason": "too_small"}],
    )
    decision = first_line(compiled, req)
    assert decision["eligible"] is False
    assert decision["messages"] == ["Only 2 of this item can still be returned; 3 requested."]
    assert decision["deadline"] == "2025-07-04"
    req["items"][0]["quantity"] = 2
    assert first_line(compiled, req)["eligible"] is True


def test_fully_returned_line_is_ineligible() -> None:
    decision = first_line(policy(), request([line(quantity=2, returned_quantity=2)]))
    assert decision["eligible"] is False
    assert decision["messages"] == [
        "Every unit of this item has already been returned or requested."
    ]


def test_items_for_the_same_line_share_its_returnable_quantity() -> None:
    req = request(
        [line(quantity=2)],
        items=[
            {"line_id": "L1", "quantity": 1, "reason": "too_small"},
            {"line_id": "L1", "quantity": 1, "reason": "damaged"},
            {"line_id": "L1", "quantity": 1, "reason": "changed_mind"},
        ],
    )
    decision = decide(policy(), req)
    assert [li["eligible"] for li in decision["lines"]] == [True, True, False]


def test_window_and_quantity_messages_are_both_reported_in_that_order() -> None:
    req = request([line(quantity=1, returned_quantity=1)], as_of="2026-01-01T00:00:00Z")
    assert first_line(policy(), req)["messages"] == [
        "The return window for this item closed on 2025-07-04.",
        "Every unit of this item has already been returned or requested.",
    ]
