"""Backtest: replay stored decisions under a candidate policy."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from portal.policy.backtest import StoredDecision, backtest
from tests.policy.helpers import decide, line, policy, request, rules

FEES = "fees: {label_fee: 5.95}\napproval: {auto_approve_refunds_below: 30}\n"


def stored_under(compiled, requests: list[dict]) -> list[StoredDecision]:
    return [
        StoredDecision(f"ret-{i}", f"RMA-{1000 + i}", req, decide(compiled, req))
        for i, req in enumerate(requests)
    ]


REQUESTS = [
    request([line("A", tags=["sale"]), line("B")]),
    request([line("A", unit_price=5000)]),
    request([line("A")], as_of="2025-08-01T00:00:00Z"),  # past the 30-day window
]


def test_same_policy_changes_nothing() -> None:
    current = policy(FEES)
    report = backtest(current, stored_under(current, REQUESTS))
    assert report.returns == 3
    assert report.lines == 4
    assert report.returns_changed == 0
    assert report.changed == []
    assert report.refund_total_before == report.refund_total_after == ((5000 - 595) + (5000 - 595))


def test_candidate_changes_are_counted() -> None:
    current = policy(FEES)
    candidate = rules(
        """
        - {name: Sale final, when: {tags_any: [sale]}, then: {deny: Sale items are final.}}
        - {name: Long window, when: {}, then: {window_days: 90}}
        - {name: Expensive, when: {unit_price_at_least: 40}, then: {require_review: true, resolutions: [exchange, refund]}}
        """,
        FEES,
    )
    report = backtest(candidate, stored_under(current, REQUESTS))
    assert report.returns == 3
    assert report.returns_changed == 3
    assert report.lines_became_ineligible == 1  # the sale line
    assert report.lines_became_eligible == 1  # the late return, now inside 90 days
    assert report.lines_resolutions_changed == 1 + 1 + 1  # sale denied, expensive, late
    # before: 4405 + 4405 + 0; after: B alone 2500 - 595, 4405, late A 1905
    assert report.refund_total_before == 8810
    assert report.refund_total_after == 1905 + 4405 + 1905
    assert report.store_credit_total_before == 5000 + 5000
    assert report.store_credit_total_after == 2500 + 0 + 2500
    assert (report.review_before, report.review_after) == (0, 1)
    # approval threshold 30.00: 44.05 needs approval before; afterwards only it still does
    assert (report.approval_before, report.approval_after) == (2, 1)
    assert report.label_fees_before == 595 * 2
    assert report.label_fees_after == 595 * 3
    assert report.returns_label_fee_changed == 1
    first = report.changed[0]
    assert first.rma == "RMA-1000"
    assert "line A eligible: yes → no" in first.changes
    assert "return refund_total: 4405 → 1905" in first.changes


def test_requests_the_candidate_rejects_are_counted_as_invalid() -> None:
    current = policy(FEES)
    damaged = request(items=[{"line_id": "L1", "quantity": 1, "reason": "damaged"}])
    candidate = policy(
        FEES,
        base="name: New\ncurrency: USD\nreasons: [{code: too_small, label: Small}]\n"
        "warehouses: {main: {name: Main, address: x}}\n",
    )
    report = backtest(candidate, stored_under(current, [damaged, request()]))
    assert report.requests_now_invalid == 1
    assert report.returns_changed == 1
    assert report.lines_became_ineligible == 1
    assert report.changed[0].changes[0].startswith("request no longer valid:")
    assert report.changed[0].refund_total_after == 0


def test_csv_lists_changed_returns(tmp_path: Path) -> None:
    current = policy(FEES)
    candidate = policy("fees: {label_fee: 7}\napproval: {auto_approve_refunds_below: 30}\n")
    report = backtest(candidate, stored_under(current, REQUESTS))
    buffer = io.StringIO()
    report.write_csv(buffer)
    rows = list(csv.DictReader(io.StringIO(buffer.getvalue())))
    assert [row["rma"] for row in rows] == ["RMA-1000", "RMA-1001"]
    assert rows[0]["label_fee_before"] == "595"
    assert rows[0]["label_fee_after"] == "700"
    assert rows[0]["refund_total_after"] == str(5000 - 700)
    assert "return label_fee: 595 → 700" in rows[0]["changes"]
    path = tmp_path / "changes.csv"
    report.write_csv(path)
    with path.open(encoding="utf-8", newline="") as handle:
        assert handle.read() == buffer.getvalue()
    assert report.counts()["returns_changed"] == 2
