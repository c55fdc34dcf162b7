"""Run every benchmark and keep the results, so runs can be compared.

    uv run python benchmarks/run_all.py [--quick] [--only policy,slip,...]

Each benchmark script prints its own figures; this runner records what each printed, how
long it took and on which machine, into ``bench-results/<UTC time>.json`` and ``.md``, with
a table of the headline figures against their goals and against the previous run.
``--quick`` shortens the long ones (fewer seconds, 100,000 instead of 1,000,000 returns).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HERE = ROOT / "benchmarks"

BENCHMARKS: dict[str, tuple[list[str], list[str]]] = {
    # name: (full arguments, quick arguments)
    "policy": (["policy_bench.py"], ["policy_bench.py"]),
    "slip": (["slip_bench.py"], ["slip_bench.py"]),
    "outbox": (["outbox_bench.py"], ["outbox_bench.py", "--rows", "1000"]),
    "choose_items": (["choose_items_bench.py"], ["choose_items_bench.py", "--seconds", "5"]),
    "scan": (["scan_bench.py"], ["scan_bench.py"]),
    "approvals": (["approvals_bench.py"], ["approvals_bench.py"]),
    "e2e": (["e2e_bench.py"], ["e2e_bench.py", "--seconds", "20", "--big", "100000"]),
    "lookup": (["lookup_bench.py"], ["lookup_bench.py", "--seconds", "5", "--no-owner-wait"]),
}


# The headline figures, read off what each benchmark prints: (benchmark, figure, pattern with
# one number group, unit, goal as (comparison, threshold) or None).
FIGURES: list[tuple[str, str, str, str, tuple[str, float] | None]] = [
    (
        "policy",
        "policy line evaluations/s",
        r"evaluate\(\):\s+([\d,]+) lines/s",
        "/s",
        (">=", 100_000),
    ),
    ("policy", "backtest of 100,000 returns", r"backtest: .*? in ([\d.]+) s", "s", ("<", 30)),
    ("slip", "slip / bare WeasyPrint, 3 lines", r"\s3 lines .*?ratio ([\d.]+)", "x", ("<=", 1.2)),
    ("slip", "slip / bare WeasyPrint, 20 lines", r"20 lines .*?ratio ([\d.]+)", "x", ("<=", 1.2)),
    ("slip", "three-line slips/s, one process", r"throughput: ([\d.]+)", "/s", None),
    ("outbox", "outbox no-op jobs/s, 1 worker", r"1 worker\(s\): ([\d,]+) rows", "/s", None),
    ("outbox", "outbox no-op jobs/s, 2 workers", r"2 worker\(s\): ([\d,]+) rows", "/s", None),
    ("choose_items", "choose items req/s", r"choose items\s+([\d,]+) req/s", "/s", None),
    (
        "choose_items",
        "choose items / bare page",
        r"ratio \(choose items / bare\): ([\d.]+)",
        "x",
        (">=", 0.6),
    ),
    ("scan", "scan p95, one station", r"one station.*?p95 ([\d.]+) ms", "ms", ("<", 25)),
    (
        "scan",
        "scans/s, 2 processes x 8 stations",
        r"stations: \d+ scans, ([\d,]+) scans/s",
        "/s",
        None,
    ),
    ("approvals", "bulk approvals/s (HTTP)", r'"http_approvals_per_second": ([\d.]+)', "/s", None),
    ("e2e", "returns/hour end to end", r"-> ([\d,]+) returns/hour", "/h", (">=", 12_000)),
    (
        "e2e",
        "choose items p50 at the big / small data set",
        r"latency at .*?: ([\d.]+)",
        "x",
        ("<=", 1.3),
    ),
    ("lookup", "lookups/s, 32 shoppers", r"1\. 32 shoppers\s+([\d.,]+)", "/s", None),
    ("lookup", "guesses past the limiter per window", r"(\d+) got past the limiter", "", None),
]


def figures(results: dict[str, dict[str, object]]) -> list[dict[str, object]]:
    """The headline figures found in this run's outputs, with their goals."""
    rows = []
    for bench, label, pattern, unit, goal in FIGURES:
        output = str(results.get(bench, {}).get("output") or "")
        match = re.search(pattern, output)
        if not match:
            continue
        value = float(match.group(1).replace(",", ""))
        met = None
        if goal:
            op, threshold = goal
            met = {
                ">=": value >= threshold,
                "<=": value <= threshold,
                "<": value < threshold,
            }[op]
        rows.append(
            {
                "benchmark": bench,
                "figure": label,
                "value": value,
                "unit": unit,
                "goal": f"{goal[0]} {goal[1]:,}" if goal else "",
                "met": met,
            }
        )
    return rows


def previous_figures(folder: Path, before: str) -> dict[str, float]:
    """The figures of the latest earlier full run, to compare against."""
    earlier = sorted(p for p in folder.glob("*.json") if p.stem < before)
    for path in reversed(earlier):
        record = json.loads(path.read_text())
        if record.get("figures"):
            return {f["figure"]: f["value"] for f in record["figures"]}
    return {}


def machine() -> dict[str, str]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": str(os.cpu_count()),
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--only", default="", help="comma-separated names: " + ", ".join(BENCHMARKS)
    )
    args = parser.parse_args()
    wanted = [n for n in args.only.split(",") if n] or list(BENCHMARKS)
    results: dict[str, dict[str, object]] = {}
    for name in wanted:
        full, quick = BENCHMARKS[name]
        command = [
            sys.executable,
            str(HERE / (quick if args.quick else full)[0]),
            *(quick if args.quick else full)[1:],
        ]
        if not Path(command[1]).exists():
            results[name] = {"skipped": "script not present"}
            continue
        print(f"== {name}: {' '.join(command[1:])}", flush=True)
        started = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        output = "\n".join(line for line in done.stdout.splitlines() if not line.startswith("INFO"))
        print(output, flush=True)
        results[name] = {
            "command": " ".join(["uv run python", *command[1:]]).replace(str(ROOT) + "/", ""),
            "exit_code": done.returncode,
            "seconds": round(time.perf_counter() - started, 1),
            "output": output,
            "stderr_tail": done.stderr[-2000:] if done.returncode else "",
        }
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = ROOT / "bench-results"
    folder.mkdir(exist_ok=True)
    found = figures(results)
    before = previous_figures(folder, stamp)
    record = {
        "time": stamp,
        "machine": machine(),
        "load_average": os.getloadavg(),
        "quick": args.quick,
        "figures": found,
        "results": results,
    }
    (folder / f"{stamp}.json").write_text(json.dumps(record, indent=2))
    lines = [
        f"# Benchmarks {stamp}",
        "",
        f"Machine: {record['machine']}; load average at the end: {record['load_average']}",
        "",
        "| benchmark | figure | value | previous run | goal | met |",
        "|---|---|---|---|---|---|",
    ]
    for f in found:
        prev = before.get(str(f["figure"]))
        lines.append(
            f"| {f['benchmark']} | {f['figure']} | {f['value']:,g}{f['unit']} | "
            f"{'' if prev is None else f'{prev:,g}'} | {f['goal']} | "
            f"{'' if f['met'] is None else ('yes' if f['met'] else 'no')} |"
        )
    lines.append("")
    print("\n".join(lines[4:]))
    for name, result in results.items():
        lines += [
            f"## {name}",
            "",
            f"`{result.get('command', '')}` "
            f"(exit {result.get('exit_code')}, {result.get('seconds')} s)",
            "",
            "```",
            str(result.get("output") or result.get("skipped", "")),
            "```",
            "",
        ]
    (folder / f"{stamp}.md").write_text("\n".join(lines))
    print(f"results: bench-results/{stamp}.json and .md")


if __name__ == "__main__":
    main()
