"""End to end: returns created per hour through the real stack, and latency vs data size.

The real stack on loopback: a throwaway PostgreSQL database, Redis (database 12, flushed),
``portal serve --workers 2`` and ``portal worker`` processes (sandbox carrier, manual
payments, the local mailbox). A separate load process plays shoppers: look the order up,
choose items, choose a resolution, review, confirm — exactly the no-JavaScript forms. The
clock stops when the outbox is drained (every label, slip and e-mail made).

Then, with 10,000 and with 1,000,000 returns already in the database (made by a bulk SQL
seeder in seconds), it measures the "choose items" page and the order lookup, so the
growth of latency with data shows.

Run: ``uv run python benchmarks/e2e_bench.py [--seconds 60] [--shoppers 8] [--big 1000000]``
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

POSTGRES_ADMIN_URL = os.environ.get(
    "PORTAL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("PORTAL_BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
EMAIL = "shopper{n}@example.com"


# --- data -------------------------------------------------------------------------------


async def _admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(POSTGRES_ADMIN_URL.replace("postgresql://", "postgres://", 1))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def seed_store(url: str, orders: int) -> None:
    """The demo catalogue and policy, plus ``orders`` delivered orders, one per shopper."""
    from datetime import timedelta

    from portal.catalog import upsert_products
    from portal.db import Database
    from portal.demo import demo_products
    from portal.models.base import utcnow
    from portal.policy.versions import ensure_default_policy
    from portal.settings import async_database_url

    db = Database(async_database_url(url))
    async with db.session() as session:
        await ensure_default_policy(session)
        await upsert_products(session, demo_products(), actor="bench")
    now = utcnow()
    async with db.engine.begin() as conn:
        await conn.exec_driver_sql(
            """
            INSERT INTO orders (number, email, currency, placed_at, fulfilled_at, delivered_at,
                total, tags, shipping_address, postal_code_key, created_at, updated_at)
            SELECT 'B' || n, 'shopper' || n || '@example.com', 'USD', $1, $1, $2, 11400,
                '[]'::jsonb,
                jsonb_build_object('country', 'US', 'postal_code', '97205', 'name',
                    'Shopper ' || n, 'street1', n || ' Oak St', 'city', 'Portland',
                    'state', 'OR'),
                '97205', $1, $1
            FROM generate_series(1, $3) AS n
            """,
            (now - timedelta(days=6), now - timedelta(days=3), orders),
        )
        await conn.exec_driver_sql(
            """
            INSERT INTO order_lines (order_id, line_ref, sku, title, variant_title,
                product_type, vendor, tags, quantity, unit_price, discount, returned_quantity,
                variant_id)
            SELECT o.id, l.ref, v.sku, p.title, v.title, p.product_type, p.vendor, '[]'::jsonb,
                1, v.price, 0, 0, v.id
            FROM orders o
            CROSS JOIN (VALUES ('L1', 'CLASSICTEE-M'), ('L2', 'SLIMJEANS-32')) AS l(ref, sku)
            JOIN variants v ON v.sku = l.sku
            JOIN products p ON p.id = v.product_id
            WHERE o.number LIKE 'B%'
            """
        )
        await conn.exec_driver_sql("UPDATE variants SET stock_on_hand = 1000000")
    await db.dispose()


async def seed_returns(url: str, count: int, offset: int = 0) -> float:
    """``count`` more closed returns spread over other orders (ten per order), by bulk
    SQL; returns the seconds it took."""
    from portal.db import Database
    from portal.settings import async_database_url

    started = time.perf_counter()
    db = Database(async_database_url(url))
    async with db.engine.begin() as conn:
        first, last = offset // 10 + 1, (offset + count - 1) // 10 + 1
        await conn.exec_driver_sql(
            """
            INSERT INTO orders (number, email, currency, placed_at, total, tags,
                shipping_address, postal_code_key, created_at, updated_at)
            SELECT 'H' || n, 'past' || n || '@example.com', 'USD', now() - interval '90 days',
                5000, '[]'::jsonb, '{"country": "US", "postal_code": "10001"}'::jsonb,
                '10001', now(), now()
            FROM generate_series($1::int, $2::int) AS n
            ON CONFLICT (number) DO NOTHING
            """,
            (first, last),
        )
        await conn.exec_driver_sql(
            """
            INSERT INTO returns (rma, order_id, status, submission_key, request, decision,
                currency, refund_total, store_credit_total, label_fee, needs_approval,
                require_review, destination, label_state, tracking_code, version, created_at,
                updated_at, closed_at)
            SELECT 'RMA-H' || n, o.id, 'completed', 'hist-' || n, '{}'::jsonb, '{}'::jsonb,
                'USD', 2500, 0, 595, false, false, 'main', 'ready', 'SBXH' || n, 1,
                now() - (n % 90) * interval '1 day', now(), now()
            FROM generate_series($1::int, $2::int) AS n
            JOIN orders o ON o.number = 'H' || ((n - 1) / 10 + 1)
            """,
            (offset + 1, offset + count),
        )
        await conn.exec_driver_sql("ANALYZE")
    await db.dispose()
    return time.perf_counter() - started


# --- processes --------------------------------------------------------------------------


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env(url: str) -> dict[str, str]:
    return {
        **os.environ,
        "PORTAL_ENV": "production",
        "PORTAL_DATABASE_URL": url,
        "PORTAL_REDIS_URL": REDIS_URL,
        "PORTAL_SECRET_KEY": "bench-" + "k" * 40,
        "PORTAL_DATA_DIR": str(Path("/tmp") / f"portal-bench-{os.getpid()}"),
        "PORTAL_LOG_LEVEL": "WARNING",
        "PORTAL_LOOKUP_ATTEMPTS_PER_MINUTE": "1000000",  # one client plays every shopper
        "PORTAL_SANDBOX_PACE_MINUTES": "600",
    }


def start(args: list[str], url: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "portal.cli", *args],
        cwd=ROOT,
        env=_env(url),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(process.pid, signal.SIGKILL)


def wait_port(port: int, timeout: float = 60) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("portal serve did not start")


# --- the shoppers (run in a separate process) ---------------------------------------------


@functools.cache
def _tls() -> Any:
    """One TLS context for every shopper's client: httpx would load the certificate bundle
    for each new client (~35 ms of CPU, on the cores the server needs), even for http://."""
    import ssl

    return ssl.create_default_context()


async def _shopper(
    base: str, numbers: asyncio.Queue[int], deadline: float, results: list[float], errors: list[str]
) -> None:
    import httpx

    while time.monotonic() < deadline:
        try:
            n = numbers.get_nowait()
        except asyncio.QueueEmpty:
            return
        started = time.perf_counter()
        try:
            async with httpx.AsyncClient(
                base_url=base, follow_redirects=False, timeout=30, verify=_tls()
            ) as client:
                await client.get("/")
                csrf = client.cookies["portal_csrf"]
                r = await client.post(
                    "/",
                    data={
                        "order_number": f"B{n}",
                        "contact": EMAIL.format(n=n),
                        "_csrf_token": csrf,
                    },
                )
                assert r.status_code == 303, ("lookup", r.status_code)
                page = (await client.get("/order")).text
                version = re.search(r'name="policy_version" value="(\d+)"', page).group(1)
                line = re.search(r'name="qty-(\d+)"', page).group(1)
                r = await client.post(
                    "/order/items",
                    data={
                        "_csrf_token": csrf,
                        "policy_version": version,
                        f"qty-{line}": "1",
                        f"reason-{line}": "too_small",
                        f"comment-{line}": "",
                    },
                )
                assert r.status_code == 303, ("items", r.status_code, r.text[:300])
                page = (await client.get("/order/options")).text
                resolution = "store_credit" if n % 2 else "refund"
                r = await client.post(
                    "/order/options",
                    data={
                        "_csrf_token": csrf,
                        "policy_version": version,
                        f"resolution-{line}": resolution,
                    },
                )
                assert r.status_code == 303, ("options", r.status_code, r.text[:300])
                review = (await client.get("/order/review")).text
                key = re.search(r'name="submission_key" value="([^"]+)"', review).group(1)
                r = await client.post(
                    "/order/confirm",
                    data={"_csrf_token": csrf, "submission_key": key, "policy_version": version},
                )
                assert r.status_code == 303 and "/r/" in r.headers["location"], ("confirm",)
            results.append(time.perf_counter() - started)
        except Exception as exc:  # counted, never hidden
            errors.append(repr(exc)[:200])


async def _load(base: str, seconds: float, shoppers: int, orders: int) -> dict[str, Any]:
    numbers: asyncio.Queue[int] = asyncio.Queue()
    for n in range(1, orders + 1):
        numbers.put_nowait(n)
    deadline = time.monotonic() + seconds
    results: list[float] = []
    errors: list[str] = []
    started = time.perf_counter()
    await asyncio.gather(
        *(_shopper(base, numbers, deadline, results, errors) for _ in range(shoppers))
    )
    return {
        "returns": len(results),
        "seconds": time.perf_counter() - started,
        "flow_p50_ms": statistics.median(results) * 1000 if results else None,
        "flow_p99_ms": sorted(results)[int(len(results) * 0.99) - 1] * 1000
        if len(results) > 1
        else None,
        "errors": len(errors),
        "first_errors": errors[:3],
    }


async def _page_latency(base: str, seconds: float, number: int) -> dict[str, Any]:
    """Lookup and "choose items" latency for one shopper, sequential requests."""
    import httpx

    lookups: list[float] = []
    pages: list[float] = []
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(base_url=base, follow_redirects=False, timeout=30) as client:
        await client.get("/")
        csrf = client.cookies["portal_csrf"]
        while time.monotonic() < deadline:
            t = time.perf_counter()
            r = await client.post(
                "/",
                data={
                    "order_number": f"B{number}",
                    "contact": EMAIL.format(n=number),
                    "_csrf_token": csrf,
                },
            )
            lookups.append(time.perf_counter() - t)
            assert r.status_code == 303
            t = time.perf_counter()
            assert (await client.get("/order")).status_code == 200
            pages.append(time.perf_counter() - t)

    def pct(values: list[float], q: float) -> float:
        return sorted(values)[max(0, int(len(values) * q) - 1)] * 1000

    return {
        "lookup_p50_ms": pct(lookups, 0.5),
        "lookup_p99_ms": pct(lookups, 0.99),
        "page_p50_ms": pct(pages, 0.5),
        "page_p99_ms": pct(pages, 0.99),
        "samples": len(pages),
    }


# --- orchestration ------------------------------------------------------------------------


async def _outbox_left(url: str) -> int:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql://", "postgres://", 1))
    try:
        return await conn.fetchval(
            "SELECT count(*) FROM outbox_messages WHERE status IN ('pending', 'sent')"
        )
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--shoppers", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1, help="portal worker processes")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--big", type=int, default=1_000_000)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--load", nargs=4, metavar=("BASE", "SECONDS", "SHOPPERS", "ORDERS"))
    parser.add_argument("--latency", nargs=3, metavar=("BASE", "SECONDS", "NUMBER"))
    args = parser.parse_args()
    if args.load:
        base, seconds, shoppers, orders = args.load
        print(json.dumps(asyncio.run(_load(base, float(seconds), int(shoppers), int(orders)))))
        return
    if args.latency:
        base, seconds, number = args.latency
        print(json.dumps(asyncio.run(_page_latency(base, float(seconds), int(number)))))
        return

    import redis

    from portal.db import migrate
    from portal.settings import async_database_url

    name = f"portal_e2e_{uuid.uuid4().hex[:8]}"
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    redis.Redis.from_url(REDIS_URL).flushdb()
    procs: list[subprocess.Popen[bytes]] = []
    figures: dict[str, Any] = {}
    try:
        migrate(async_database_url(url))
        orders = 20_000
        asyncio.run(seed_store(url, orders))
        port = _free_port()
        procs.append(
            start(
                [
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--workers",
                    str(args.web_workers),
                ],
                url,
            )
        )
        procs += [start(["worker"], url) for _ in range(args.workers)]
        wait_port(port)
        base = f"http://127.0.0.1:{port}"

        def sub(*extra: str) -> dict[str, Any]:
            out = subprocess.run(
                [sys.executable, __file__, *extra],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=True,
            )
            return json.loads(out.stdout.strip().splitlines()[-1])

        started = time.perf_counter()
        load = sub("--load", base, str(args.seconds), str(args.shoppers), str(orders))
        while asyncio.run(_outbox_left(url)) > 0:
            time.sleep(0.2)
        drained = time.perf_counter() - started
        per_hour = load["returns"] / drained * 3600
        figures["e2e"] = {**load, "drained_seconds": drained, "returns_per_hour": per_hour}
        print(
            f"end to end ({args.web_workers} web workers, {args.workers} job worker(s), "
            f"{args.shoppers} shoppers, {args.seconds:.0f} s of load):"
        )
        print(
            f"  {load['returns']} returns confirmed, outbox drained after {drained:.1f} s "
            f"-> {per_hour:,.0f} returns/hour (goal >= 12,000); errors {load['errors']}"
        )
        print(
            f"  one shopper's whole journey: p50 {load['flow_p50_ms']:.0f} ms, "
            f"p99 {load['flow_p99_ms']:.0f} ms"
        )
        if load["first_errors"]:
            print("  first errors:", load["first_errors"])

        seeded = 0
        for size in (args.small, args.big):
            seconds = asyncio.run(seed_returns(url, size - seeded, seeded))
            seeded = size
            lat = sub("--latency", base, "10", str(orders))
            figures[f"with_{size}_returns"] = {**lat, "seed_seconds": seconds}
            print(
                f"with {size:,} returns in the database (seeded in {seconds:.1f} s): "
                f"choose items p50 {lat['page_p50_ms']:.1f} ms p99 {lat['page_p99_ms']:.1f} ms; "
                f"lookup p50 {lat['lookup_p50_ms']:.1f} ms p99 {lat['lookup_p99_ms']:.1f} ms"
            )
        small, big = figures[f"with_{args.small}_returns"], figures[f"with_{args.big}_returns"]
        ratio = big["page_p50_ms"] / small["page_p50_ms"]
        figures["latency_growth"] = ratio
        print(f"  latency at {args.big:,} / at {args.small:,}: {ratio:.2f} (goal <= 1.3)")
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2))
    finally:
        for p in procs:
            stop(p)
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
