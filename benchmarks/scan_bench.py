"""Scan station latency and throughput on PostgreSQL with 100,000 returns on file.

Each measured scan is a real HTMX request through the app (CSRF, session, role guard):
the parcel is looked up by its tracking number or RMA, received (row lock, state
machine, receipt, audit event, shopper e-mail queued in the outbox) and the return panel
fragment is rendered. Every scan receives a different parcel, as at a real dock.

Prints, for the full request: p50/p95/p99 latency with one station scanning in a loop,
and scans per second with several stations at once (``--processes`` web processes x
``--concurrency`` stations each, like web replicas); and for reference the lookup alone
(``find_by_scan``) with the query plan it uses.

    uv run python benchmarks/scan_bench.py [--returns 100000] [--scans 1000]
        [--processes 2] [--concurrency 8] [--seconds 10] [--postgres URL]

It creates (and drops) its own database; the returns are seeded with set-based INSERTs.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from portal.db import Database, migrate  # noqa: E402
from portal.settings import Settings, async_database_url  # noqa: E402

SECRET = "s" * 48
PASSWORD = "correct horse battery"


def tracking(n: int) -> str:
    return f"SBX{n:016d}"


def rma(n: int) -> str:
    body = f"{n:010d}"
    return f"RMA-{body[:5]}-{body[5:]}"


SEED_SQL = [
    """INSERT INTO customers (id, email, name, tags, created_at)
       SELECT g, 'shopper' || g || '@example.com', 'Shopper ' || g, '[]', now()
       FROM generate_series(1, $1) g""",
    """INSERT INTO orders (id, number, email, currency, placed_at, delivered_at, total, tags,
           customer_id, shipping_address, postal_code_key, created_at, updated_at)
       SELECT g, 'B' || g, 'shopper' || g || '@example.com', 'USD', now() - interval '9 days',
           now() - interval '5 days', 5000, '[]', g,
           '{"name": "Sam Shopper", "postal_code": "97205", "country": "US"}', '97205',
           now(), now()
       FROM generate_series(1, $1) g""",
    """INSERT INTO order_lines (id, order_id, line_ref, sku, title, variant_title, product_type,
           vendor, tags, quantity, unit_price, discount, returned_quantity)
       SELECT g, g, 'L1', 'TEE-M', 'Classic Tee', 'M', 'Tops', 'Northwind', '[]', 2, 2500, 0, 0
       FROM generate_series(1, $1) g""",
    """INSERT INTO returns (id, rma, order_id, status, policy_version_id, submission_key,
           request, decision, currency, refund_total, store_credit_total, label_fee,
           needs_approval, require_review, destination, label_state, carrier, tracking_code,
           version, created_at, updated_at, approved_at, shipped_at)
       SELECT g, 'RMA-' || substr(lpad(g::text, 10, '0'), 1, 5) || '-'
                 || substr(lpad(g::text, 10, '0'), 6, 5),
           g, (ARRAY['in_transit', 'delivered', 'label_issued'])[1 + g % 3], $2,
           'bench-' || g, '{}', '{"return": {"label_fee": 595}}', 'USD', 4405, 0, 595,
           false, false, 'main', 'ready', 'SANDBOX', 'SBX' || lpad(g::text, 16, '0'),
           1, now() - interval '3 days', now(), now() - interval '3 days',
           now() - interval '2 days'
       FROM generate_series(1, $1) g""",
    """INSERT INTO return_lines (id, return_id, order_line_id, quantity, reason_code, comment,
           resolution, refund_amount, store_credit_amount, restocking_fee, decision,
           inspection_note)
       SELECT g, g, g, 2, 'changed_mind', '', 'refund', 5000, 0, 0,
           '{"keep_item": false, "refund_amount": 5000}', ''
       FROM generate_series(1, $1) g""",
]


async def seed(db_url: str, n: int) -> float:
    """Policy and a staff user through the domain; 100k returns with set-based SQL."""
    from portal.accounts import create_user
    from portal.policy.versions import DEFAULT_POLICY_FILE, publish

    started = time.perf_counter()
    db = Database(async_database_url(db_url))
    async with db.session() as session:
        version = await publish(session, DEFAULT_POLICY_FILE.read_text(), author="bench")
        await session.commit()
        policy_id = version.id
        for i in range(1 + 2 * 8):
            await create_user(session, f"dock{i}@shop.example", PASSWORD, ["warehouse"])
    await db.dispose()
    conn = await asyncpg.connect(db_url.replace("postgresql://", "postgres://", 1))
    try:
        async with conn.transaction():
            for i, sql in enumerate(SEED_SQL):
                await conn.execute(sql, n, policy_id) if i == 3 else await conn.execute(sql, n)
        for table in ("customers", "orders", "order_lines", "returns", "return_lines"):
            await conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
            )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return time.perf_counter() - started


REDIS_URL: str | None = None


def settings_for(db_url: str, data_dir: str) -> Settings:
    return Settings(
        redis_url=REDIS_URL,  # sessions and rate limits in Redis, as in production
        _env_file=None,  # type: ignore[call-arg]
        data_dir=Path(data_dir),
        database_url=db_url,
        secret_key=SECRET,
        base_url="http://bench.local",
        log_level="ERROR",
        inprocess_jobs=False,  # e-mails wait in the outbox for the workers, as in production
        login_attempts_per_minute=100_000,
    )


async def station_client(app: Any, email: str) -> Any:
    import httpx

    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://bench.local"
    )
    await client.get("/login")
    token = client.cookies.get("portal_csrf")
    r = await client.post(
        "/login",
        data={"email": email, "password": PASSWORD, "next": "", "_csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    await client.get("/warehouse/")
    return client


async def one_scan(client: Any, code: str) -> float:
    token = client.cookies.get("portal_csrf")
    started = time.perf_counter()
    r = await client.post(
        "/warehouse/scan",
        data={"code": code, "warehouse": "main", "station": "bench", "_csrf_token": token},
        headers={"HX-Request": "true"},
    )
    elapsed = time.perf_counter() - started
    assert r.status_code == 200 and "Received RMA-" in r.text, r.text[:500]
    return elapsed


async def run_worker(
    db_url: str, codes: list[str], stations: int, first_user: int, seconds: float
) -> tuple[int, list[float]]:
    from portal.app import create_app

    with tempfile.TemporaryDirectory() as data_dir:
        app = create_app(settings_for(db_url, data_dir))
        try:
            clients = [
                await station_client(app, f"dock{first_user + i}@shop.example")
                for i in range(stations)
            ]
            queue = list(codes)
            deadline = time.perf_counter() + seconds
            times: list[float] = []

            async def loop(client: Any) -> None:
                while queue and time.perf_counter() < deadline:
                    times.append(await one_scan(client, queue.pop()))

            await asyncio.gather(*(loop(c) for c in clients))
            for c in clients:
                await c.aclose()
        finally:
            await app.state.db.dispose()
    return len(times), times


def _process(args: tuple[str, list[str], int, int, float, Any, str | None]) -> None:
    global REDIS_URL
    db_url, codes, stations, first_user, seconds, out, REDIS_URL = args
    out.put(asyncio.run(run_worker(db_url, codes, stations, first_user, seconds)))


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000


async def lookup_only(db_url: str, codes: list[str]) -> tuple[list[float], str]:
    from portal.returns.receiving import find_by_scan

    db = Database(async_database_url(db_url))
    times = []
    async with db.session() as session:
        for code in codes:
            started = time.perf_counter()
            found = await find_by_scan(session, code)
            times.append(time.perf_counter() - started)
            assert found is not None
    conn = await asyncpg.connect(db_url.replace("postgresql://", "postgres://", 1))
    plan = await conn.fetch(
        "EXPLAIN SELECT * FROM returns WHERE rma = $1 OR tracking_code = ANY($2::text[]) LIMIT 2",
        rma(7),
        [tracking(7)],
    )
    await conn.close()
    await db.dispose()
    return times, "\n      ".join(r[0] for r in plan)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--returns", type=int, default=100_000)
    parser.add_argument("--scans", type=int, default=1000, help="single-station latency run")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0, help="time cap per phase")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/13", help="'' for none")
    args = parser.parse_args()
    global REDIS_URL
    REDIS_URL = args.redis or None

    name = f"scan_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(args.postgres.replace("postgresql://", "postgres://", 1))
    await admin.execute(f'CREATE DATABASE "{name}"')
    db_url = args.postgres.rsplit("/", 1)[0] + f"/{name}"
    try:
        migrate(async_database_url(db_url))
        took = await seed(db_url, args.returns)
        print(f"seeded {args.returns:,} returns in {took:.1f}s")
        numbers = random.Random(7).sample(range(1, args.returns + 1), args.returns)
        # Alternate the ways a parcel is scanned: tracking, RMA typed loosely, USPS-style.
        codes = [
            tracking(n)
            if i % 3 == 0
            else rma(n).lower()
            if i % 3 == 1
            else tracking(n)[:3] + " " + tracking(n)[3:]
            for i, n in enumerate(numbers)
        ]

        lookups, plan = await lookup_only(db_url, codes[-500:])
        print(
            f"lookup only (find_by_scan, 500): p50 {pct(lookups, 50):.2f} ms, "
            f"p95 {pct(lookups, 95):.2f} ms\n  plan: {plan}"
        )

        single = codes[: args.scans]
        done, times = await run_worker(db_url, single, 1, 0, args.seconds)
        print(
            f"one station, {done} scans → fragment: p50 {pct(times, 50):.1f} ms, "
            f"p95 {pct(times, 95):.1f} ms, p99 {pct(times, 99):.1f} ms "
            f"({done / sum(times):.0f} scans/s sequential)"
        )

        rest = codes[args.scans : -500]
        chunk = len(rest) // args.processes
        ctx = mp.get_context("spawn")
        out = ctx.Queue()
        procs = [
            ctx.Process(
                target=_process,
                args=(
                    (
                        db_url,
                        rest[i * chunk : (i + 1) * chunk],
                        args.concurrency,
                        1 + i * args.concurrency,
                        args.seconds,
                        out,
                        REDIS_URL,
                    ),
                ),
            )
            for i in range(args.processes)
        ]
        started = time.perf_counter()
        for p in procs:
            p.start()
        results = [out.get() for _ in procs]
        wall = time.perf_counter() - started
        for p in procs:
            p.join()
        total = sum(n for n, _ in results)
        all_times = [t for _, ts in results for t in ts]
        # Start-up (app, logins) is inside ``wall``; the rate uses the busy time of the run.
        busy = max(sum(ts) / max(1, args.concurrency) for _, ts in results)
        print(
            f"{args.processes} processes × {args.concurrency} stations: {total} scans, "
            f"{total / busy:.0f} scans/s, p50 {pct(all_times, 50):.1f} ms, "
            f"p95 {pct(all_times, 95):.1f} ms (wall {wall:.1f}s incl. start-up)"
        )
        conn = await asyncpg.connect(db_url.replace("postgresql://", "postgres://", 1))
        receipts = await conn.fetchval("SELECT count(*) FROM parcel_receipts")
        received = await conn.fetchval("SELECT count(*) FROM returns WHERE status = 'received'")
        await conn.close()
        assert receipts == received == done + total, (receipts, received, done, total)
        print(f"check: {receipts} receipts for {received} received returns")
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
