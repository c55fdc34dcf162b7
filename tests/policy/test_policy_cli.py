"""The `portal policy evaluate` / `check` contract: stdout, stderr and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from portal.policy.cli import policy
from tests.policy.helpers import BASE_POLICY, line, request

PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    good = tmp_path / "good.yaml"
    good.write_text(
        BASE_POLICY + "fees: {label_fee: 5.95}\nrules:\n"
        "  - {name: Final sale, when: {tags_any: [final-sale]}, then: {deny: No returns.}}\n",
        encoding="utf-8",
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text(BASE_POLICY + "windw: 10\nfees: {label_fee: 1.234}\n", encoding="utf-8")
    ok_request = tmp_path / "request.json"
    ok_request.write_text(
        json.dumps(request([line("L1"), line("L2", tags=["final-sale"])])), encoding="utf-8"
    )
    bad_request = tmp_path / "bad-request.json"
    bad_request.write_text(
        json.dumps(request(items=[{"line_id": "L7", "quantity": 0, "reason": "nope"}])),
        encoding="utf-8",
    )
    not_json = tmp_path / "not.json"
    not_json.write_text("{oops", encoding="utf-8")
    return {
        "good": good,
        "bad": bad,
        "request": ok_request,
        "bad_request": bad_request,
        "not_json": not_json,
        "missing": tmp_path / "missing.json",
    }


def run(*args: str | Path, stdin: str | None = None) -> Result:
    return CliRunner().invoke(policy, [str(a) for a in args], input=stdin)


def test_evaluate_prints_one_json_document_and_exits_0(files) -> None:
    result = run("evaluate", files["good"], files["request"])
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    document = json.loads(result.stdout)
    assert document["policy"] == "Test policy"
    assert len(document["policy_sha256"]) == 64
    assert [li["eligible"] for li in document["lines"]] == [True, False]
    assert document["lines"][1]["messages"] == ["No returns."]
    assert document["return"] == {
        "eligible": True,
        "label_fee": 595,
        "refund_total": 2500 - 595,
        "store_credit_total": 2500,
        "needs_approval": True,
        "require_review": False,
    }


def test_evaluate_compact_is_a_single_line(files) -> None:
    result = run("evaluate", "--compact", files["good"], files["request"])
    assert result.exit_code == 0
    assert result.stdout.count("\n") == 1
    assert json.loads(result.stdout)["return"]["label_fee"] == 595


def test_evaluate_reads_the_request_from_stdin(files) -> None:
    result = run("evaluate", files["good"], "-", stdin=files["request"].read_text())
    assert result.exit_code == 0
    assert json.loads(result.stdout)["lines"][0]["line_id"] == "L1"


def test_evaluate_with_a_bad_policy_exits_2_with_errors_on_stderr(files) -> None:
    result = run("evaluate", files["bad"], files["request"])
    assert result.exit_code == 2
    assert result.stdout == ""
    bad = str(files["bad"])
    assert f"{bad}:10:1: unknown key `windw` — did you mean `window`?" in result.stderr
    assert f"{bad}:11:19: `fees.label_fee`: `1.234` has more decimals" in result.stderr


def test_evaluate_with_a_missing_policy_exits_2(files) -> None:
    result = run("evaluate", files["missing"], files["request"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "can't read the file" in result.stderr


@pytest.mark.parametrize(
    ("request_key", "message"),
    [
        ("bad_request", "items[0].line_id 'L7' is not a line of this order"),
        ("not_json", "not valid JSON"),
        ("missing", "can't read the request"),
    ],
)
def test_evaluate_with_an_invalid_request_exits_3(files, request_key: str, message: str) -> None:
    result = run("evaluate", files["good"], files[request_key])
    assert result.exit_code == 3
    assert result.stdout == ""
    assert message in result.stderr


def test_invalid_request_lists_every_problem(files) -> None:
    result = run("evaluate", files["good"], files["bad_request"])
    assert "items[0].quantity must be at least 1 (got 0)" in result.stderr
    assert "items[0].reason 'nope' is not a reason this policy knows" in result.stderr


def test_check_prints_a_summary_and_exits_0(files) -> None:
    result = run("check", files["good"])
    assert result.exit_code == 0
    assert result.stderr == ""
    summary = result.stdout
    assert summary.startswith("Test policy — USD, dates in UTC\n")
    assert "Window: 30 days from delivery" in summary
    assert "label USD 5.95" in summary
    assert "Warehouses: main (Main, default), east (East)" in summary
    assert "Approval: every refund needs approval" in summary
    assert '1. Final sale: when tags include any of final-sale → deny: "No returns."' in summary
    assert len(summary.splitlines()) <= 25  # one screen


def test_check_with_a_bad_policy_exits_2(files) -> None:
    result = run("check", files["bad"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert ":10:1: unknown key `windw`" in result.stderr
    assert "2 problems in" in result.stderr


@pytest.mark.parametrize("name", ["default.yaml", "electronics.yaml", "eu-shop.yaml"])
def test_check_example_policies(policies_dir: Path, name: str) -> None:
    result = run("check", policies_dir / name)
    assert result.exit_code == 0, result.stderr
    assert "Rules (" in result.stdout
    assert len(result.stdout.splitlines()) <= 30


def test_check_summary_of_the_apparel_policy(policies_dir: Path) -> None:
    summary = run("check", policies_dir / "default.yaml").stdout
    assert "Window: 30 days from delivery" in summary
    assert "Extension: orders placed 2025-11-15 to 2025-12-31 may come back until 2026-01-31" in (
        summary
    )
    assert "Store credit: bonus 10% (at most USD 25.00 per return), issued instantly" in summary
    assert "Approval: refunds below USD 150.00 are approved automatically" in summary
    assert "6. Keep cheap damaged items: when reason is damaged and unit price below USD 15.00" in (
        summary
    )


# -- a real process -------------------------------------------------------------------


def subprocess_run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    return subprocess.run(
        [sys.executable, "-m", "portal.policy.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=PROJECT,
        env=env,
        timeout=60,
        check=False,
    )


def test_real_process_exit_codes_and_single_json_document(files) -> None:
    ok = subprocess_run("evaluate", files["good"], files["request"])
    assert ok.returncode == 0, ok.stderr
    decoder = json.JSONDecoder()
    document, end = decoder.raw_decode(ok.stdout)
    assert ok.stdout[end:].strip() == "", "stdout must hold exactly one JSON document"
    assert document["return"]["refund_total"] == 1905

    bad_policy = subprocess_run("evaluate", files["bad"], files["request"])
    assert bad_policy.returncode == 2
    assert bad_policy.stdout == ""
    assert "did you mean `window`?" in bad_policy.stderr

    bad_request = subprocess_run("evaluate", files["good"], files["bad_request"])
    assert bad_request.returncode == 3
    assert bad_request.stdout == ""
    assert "'L7' is not a line of this order" in bad_request.stderr
