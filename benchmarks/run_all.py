"""Run every benchmark and keep the results, so runs can be compared.

    uv run python benchmarks/run_all.py [--quick] [--only policy,slip,...]

Each benchmark script prints its own figures; this runner records what each printed, how
long it took and on which machine, into ``bench-results/<UTC time>.json`` and ``.md``.
``--quick`` shortens the long ones (fewer seconds, 100,000 instead of 1,000,000 returns).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
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
    record = {"time": stamp, "machine": machine(), "quick": args.quick, "results": results}
    (folder / f"{stamp}.json").write_text(json.dumps(record, indent=2))
    lines = [f"# Benchmarks {stamp}", "", f"Machine: {record['machine']}", ""]
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
