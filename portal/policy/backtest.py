"""Replay stored returns under a candidate policy and count what would change.

Every return stores the request it was decided on (including its original
`as_of`) and the decision JSON of the policy version active then. Replaying the
request under a candidate policy, with the same `as_of`, shows the merchant the
effect of a policy edit before publishing it. The function is pure: the caller
streams stored decisions from the database and writes the CSV where it likes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from portal import csvsafe
from portal.policy.evaluator import CompiledPolicy, evaluate
from portal.policy.request import RequestError, parse_request

__all__ = ["BacktestReport", "ChangedReturn", "StoredDecision", "backtest"]


@dataclass(frozen=True, slots=True)
class StoredDecision:
    """One past return: its request (with the original as_of) and the decision then."""

    return_id: str
    rma: str
    request: Mapping[str, Any]
    decision: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ChangedReturn:
    """A return whose decision differs under the candidate policy."""

    return_id: str
    rma: str
    eligible_before: bool
    eligible_after: bool
    refund_total_before: int
    refund_total_after: int
    store_credit_total_before: int
    store_credit_total_after: int
    label_fee_before: int
    label_fee_after: int
    needs_approval_before: bool
    needs_approval_after: bool
    require_review_before: bool
    require_review_after: bool
    changes: tuple[str, ...]


CSV_COLUMNS = (
    "return_id",
    "rma",
    "eligible_before",
    "eligible_after",
    "refund_total_before",
    "refund_total_after",
    "store_credit_total_before",
    "store_credit_total_after",
    "label_fee_before",
    "label_fee_after",
    "needs_approval_before",
    "needs_approval_after",
    "require_review_before",
    "require_review_after",
    "changes",
)


@dataclass(slots=True)
class BacktestReport:
    """Counts of what changes, before → after, plus the changed returns themselves."""

    returns: int = 0
    returns_changed: int = 0
    lines: int = 0
    lines_became_eligible: int = 0
    lines_became_ineligible: int = 0
    lines_resolutions_changed: int = 0
    lines_restocking_fee_changed: int = 0
    returns_label_fee_changed: int = 0
    requests_now_invalid: int = 0
    restocking_fees_before: int = 0
    restocking_fees_after: int = 0
    label_fees_before: int = 0
    label_fees_after: int = 0
    refund_total_before: int = 0
    refund_total_after: int = 0
    store_credit_total_before: int = 0
    store_credit_total_after: int = 0
    review_before: int = 0
    review_after: int = 0
    approval_before: int = 0
    approval_after: int = 0
    changed: list[ChangedReturn] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Every counter, for JSON output or a template."""
        return {name: getattr(self, name) for name in self.__slots__ if name != "changed"}

    def write_csv(self, target: str | Path | IO[str]) -> None:
        """Write one row per changed return (a path or an open text file)."""
        if isinstance(target, str | Path):
            with Path(target).open("w", newline="", encoding="utf-8") as handle:
                self._write(handle)
        else:
            self._write(target)

    def _write(self, handle: IO[str]) -> None:
        writer = csvsafe.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for row in self.changed:
            values = [getattr(row, column) for column in CSV_COLUMNS[:-1]]
            writer.writerow([*values, "; ".join(row.changes)])


def _line_changes(index: int, before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    label = f"line {after.get('line_id') or before.get('line_id') or index + 1}"
    changes: list[str] = []
    for key in (
        "eligible",
        "deadline",
        "resolutions",
        "keep_item",
        "require_review",
        "require_photo",
        "destination",
        "restocking_fee",
        "refund_amount",
        "store_credit_amount",
        "messages",
    ):
        old, new = before.get(key), after.get(key)
        if old != new:
            changes.append(f"{label} {key}: {_fmt(old)} → {_fmt(new)}")
    return changes


def _fmt(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "none" if value is None else str(value)


def backtest(
    compiled_candidate: CompiledPolicy, stored: Iterable[StoredDecision]
) -> BacktestReport:
    """Replay each stored request (at its original as_of) and compare the decisions.

    Choice: a stored request the candidate rejects (say its reason code was
    removed) counts as `requests_now_invalid` and as a return whose lines are all
    ineligible, since such a return could not be requested under the candidate.
    """
    report = BacktestReport()
    codes = compiled_candidate.reasons
    for entry in stored:
        report.returns += 1
        old = entry.decision
        old_lines: list[Mapping[str, Any]] = list(old.get("lines") or [])
        old_return: Mapping[str, Any] = old.get("return") or {}
        changes: list[str] = []
        try:
            new = evaluate(compiled_candidate, parse_request(entry.request, codes)).to_dict()
        except RequestError as exc:
            report.requests_now_invalid += 1
            changes.append(f"request no longer valid: {exc}")
            new = {
                "lines": [
                    {**line, "eligible": False, "resolutions": [], "restocking_fee": 0,
                     "refund_amount": 0, "store_credit_amount": 0}
                    for line in old_lines
                ],
                "return": {"eligible": False, "label_fee": 0, "refund_total": 0,
                           "store_credit_total": 0, "needs_approval": False,
                           "require_review": False},
            }  # fmt: skip
        new_lines: list[dict[str, Any]] = new["lines"]
        new_return: dict[str, Any] = new["return"]

        report.lines += len(new_lines)
        if len(old_lines) != len(new_lines):
            changes.append(f"{len(old_lines)} lines before, {len(new_lines)} after")
        for index, (before, after) in enumerate(zip(old_lines, new_lines, strict=False)):
            was, now = bool(before.get("eligible")), bool(after.get("eligible"))
            if was != now:
                if now:
                    report.lines_became_eligible += 1
                else:
                    report.lines_became_ineligible += 1
            if set(before.get("resolutions") or ()) != set(after.get("resolutions") or ()):
                report.lines_resolutions_changed += 1
            if (before.get("restocking_fee") or 0) != after["restocking_fee"]:
                report.lines_restocking_fee_changed += 1
            if was:
                report.restocking_fees_before += before.get("restocking_fee") or 0
            if now:
                report.restocking_fees_after += after["restocking_fee"]
            if before != after:
                changes.extend(_line_changes(index, before, after))

        old_label = int(old_return.get("label_fee") or 0)
        new_label = int(new_return["label_fee"])
        if old_label != new_label:
            report.returns_label_fee_changed += 1
        report.label_fees_before += old_label
        report.label_fees_after += new_label
        old_refund = int(old_return.get("refund_total") or 0)
        old_credit = int(old_return.get("store_credit_total") or 0)
        report.refund_total_before += old_refund
        report.refund_total_after += new_return["refund_total"]
        report.store_credit_total_before += old_credit
        report.store_credit_total_after += new_return["store_credit_total"]
        old_review = bool(old_return.get("require_review"))
        old_approval = bool(old_return.get("needs_approval"))
        report.review_before += old_review
        report.review_after += new_return["require_review"]
        report.approval_before += old_approval
        report.approval_after += new_return["needs_approval"]
        for key in ("eligible", "label_fee", "refund_total", "store_credit_total",
                    "needs_approval", "require_review"):  # fmt: skip
            if old_return.get(key) != new_return[key]:
                changes.append(
                    f"return {key}: {_fmt(old_return.get(key))} → {_fmt(new_return[key])}"
                )

        if changes:
            report.returns_changed += 1
            report.changed.append(
                ChangedReturn(
                    return_id=str(entry.return_id),
                    rma=str(entry.rma),
                    eligible_before=bool(old_return.get("eligible")),
                    eligible_after=bool(new_return["eligible"]),
                    refund_total_before=old_refund,
                    refund_total_after=new_return["refund_total"],
                    store_credit_total_before=old_credit,
                    store_credit_total_after=new_return["store_credit_total"],
                    label_fee_before=old_label,
                    label_fee_after=new_label,
                    needs_approval_before=old_approval,
                    needs_approval_after=new_return["needs_approval"],
                    require_review_before=old_review,
                    require_review_after=new_return["require_review"],
                    changes=tuple(changes),
                )
            )
    return report
