"""Packing-slip render benchmark.

Why: slips are rendered on the request path (shopper downloads) and in bulk by jobs, so
the template must stay close to what WeasyPrint itself costs. It prints, per slip size:

* warm render time per slip and per page,
* the ratio to `render_bare_document` with the same number of rows (goal: <= 1.2),

and the number of normal (3-line) slips one process renders per second.

    uv run python benchmarks/slip_bench.py [--rows 3 20 60] [--repeat 15] [--seconds 5]

Timings interleave slip and baseline renders so that machine noise hits both alike; the
median is reported (and the minimum, the least noisy estimate of the true cost).
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime

from pypdf import PdfReader

from portal.documents.slip import (
    SlipData,
    SlipLine,
    StoreBranding,
    render_bare_document,
    render_packing_slip,
)


def sample_slip(n_lines: int) -> SlipData:
    """A realistic slip with `n_lines` lines."""
    lines = tuple(
        SlipLine(
            title=f"Trail Runner Jacket {i}",
            variant="Size M / Forest green" if i % 2 else None,
            sku=f"TRJ-{i:04d}-M",
            quantity=1 + (i % 3 == 0),
            reason_label="Too small",
            resolution_label="Exchange" if i % 2 else "Store credit (+10%)",
        )
        for i in range(1, n_lines + 1)
    )
    return SlipData(
        brand=StoreBranding("Acme Outdoor Co.", None, "#0a7d4f"),
        rma="RMA-7KQ2-93XD",
        status_url="https://returns.acme.example/r/RMA-7KQ2-93XD?t=3f9a",
        created_at=datetime(2025, 3, 7, 16, 46, tzinfo=UTC),
        shopper_name="Jane Shopper",
        shopper_address=("12 Elm Street", "Apt 4", "Springfield, IL 62704", "US"),
        warehouse_name="Acme Returns Warehouse",
        warehouse_address=("500 Industrial Pkwy", "Reno, NV 89502", "US"),
        lines=lines,
    )


def pages(pdf: bytes) -> int:
    return len(PdfReader(io.BytesIO(pdf)).pages)


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def compare(n_lines: int, repeat: int) -> None:
    slip = sample_slip(n_lines)
    slip_pdf = render_packing_slip(slip)
    bare_pdf = render_bare_document(n_lines)
    for _ in range(2):  # warm caches: fonts, CSS, templates, barcodes
        render_packing_slip(slip)
        render_bare_document(n_lines)
    slip_times, bare_times = [], []
    for _ in range(repeat):
        slip_times.append(timed(lambda: render_packing_slip(slip)))
        bare_times.append(timed(lambda: render_bare_document(n_lines)))
    n_pages = pages(slip_pdf)
    slip_med, bare_med = statistics.median(slip_times), statistics.median(bare_times)
    slip_min, bare_min = min(slip_times), min(bare_times)
    print(
        f"{n_lines:>5} lines  {n_pages:>2} page(s)  slip {slip_med * 1000:7.1f} ms "
        f"({slip_med * 1000 / n_pages:6.1f} ms/page)  bare {bare_med * 1000:7.1f} ms "
        f"({pages(bare_pdf)} p)  ratio {slip_med / bare_med:4.2f} (min-based "
        f"{slip_min / bare_min:4.2f})"
    )


def throughput(seconds: float) -> None:
    slip = sample_slip(3)
    render_packing_slip(slip)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        render_packing_slip(slip)
        count += 1
    elapsed = time.perf_counter() - start
    print(
        f"throughput: {count / elapsed:.1f} three-line slips/s in one process ({count} in "
        f"{elapsed:.1f} s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[3, 20, 60, 200])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    imported = timed(lambda: __import__("portal.documents.pdf"))
    cold = timed(lambda: render_packing_slip(sample_slip(3)))
    print(
        f"import WeasyPrint: {imported * 1000:.0f} ms; first render (fonts, CSS, templates "
        f"built): {cold * 1000:.0f} ms"
    )
    for n in args.rows:
        compare(n, args.repeat)
    throughput(args.seconds)


if __name__ == "__main__":
    main()
