"""Outbox throughput and latency on real PostgreSQL + Redis with arq workers.

Prints rows dispatched and completed per second with a no-op job (1 and 2 worker
processes), and the delay from commit to job completion (p50, p99) under a steady trickle.

    uv run python benchmarks/outbox_bench.py [--rows 3000] [--postgres URL] [--redis URL]

It creates (and drops) its own database and uses Redis database 14, which it flushes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import asyncpg
import redis
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from portal.db import Database, migrate  # noqa: E402
from portal.models.outbox import OutboxMessage  # noqa: E402
from portal.settings import async_database_url  # noqa: E402


def start_workers(count: int, db_url: str, redis_url: str) -> list[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "PORTAL_DATABASE_URL": db_url,
        "PORTAL_REDIS_URL": redis_url,
        "PORTAL_SECRET_KEY": "b" * 40,
        "PORTAL_DISPATCH_POLL_MS": "20",
        "PORTAL_LOG_LEVEL": "ERROR",
    }
    return [
        subprocess.Popen(
            [sys.executable, "-m", "portal.cli", "worker"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(count)
    ]


def stop(workers: list[subprocess.Popen[bytes]]) -> None:
    for w in workers:
        w.terminate()
    for w in workers:
        w.wait(timeout=20)


async def insert(db: Database, count: int, prefix: str) -> None:
    rows = [
        {
            "job": "noop",
            "payload": {},
            "dedupe_key": f"{prefix}:{i}",
            "status": "pending",
            "attempts": 0,
            "max_attempts": 8,
        }
        for i in range(count)
    ]
    from portal.models.base import utcnow

    now = utcnow()
    for row in rows:
        row["next_attempt_at"] = now
        row["created_at"] = now
    async with db.engine.begin() as conn:
        await conn.execute(sa.insert(OutboxMessage.__table__), rows)


async def wait_done(db: Database, prefix: str, count: int, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while True:
        async with db.engine.connect() as conn:
            done = (
                await conn.execute(
                    sa.select(sa.func.count())
                    .select_from(OutboxMessage.__table__)
                    .where(
                        OutboxMessage.__table__.c.dedupe_key.like(f"{prefix}:%"),
                        OutboxMessage.__table__.c.status == "done",
                    )
                )
            ).scalar_one()
        if done >= count:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{done}/{count} done")
        await asyncio.sleep(0.05)


async def throughput(db: Database, workers: int, rows: int, db_url: str, redis_url: str) -> float:
    procs = start_workers(workers, db_url, redis_url)
    try:
        await insert(db, 20, f"warm{workers}")
        await wait_done(db, f"warm{workers}", 20)
        prefix = f"tp{workers}"
        started = time.perf_counter()
        await insert(db, rows, prefix)
        await wait_done(db, prefix, rows)
        return rows / (time.perf_counter() - started)
    finally:
        stop(procs)


async def latency(
    db: Database, db_url: str, redis_url: str, seconds: float = 10, rate: float = 50
) -> tuple[float, float]:
    procs = start_workers(1, db_url, redis_url)
    try:
        await insert(db, 20, "warm-lat")
        await wait_done(db, "warm-lat", 20)
        sent = 0
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            await insert(db, 1, f"lat:{sent}")
            sent += 1
            await asyncio.sleep(1 / rate)
        await wait_done(db, "lat", sent)
        table = OutboxMessage.__table__
        async with db.engine.connect() as conn:
            rows = (
                await conn.execute(
                    sa.select(table.c.created_at, table.c.done_at).where(
                        table.c.dedupe_key.like("lat:%")
                    )
                )
            ).all()
        delays = sorted((d - c).total_seconds() * 1000 for c, d in rows)
        return statistics.median(delays), delays[int(len(delays) * 0.99) - 1]
    finally:
        stop(procs)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14")
    args = parser.parse_args()
    name = f"portal_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(args.postgres.replace("postgresql://", "postgres://", 1))
    await admin.execute(f'CREATE DATABASE "{name}"')
    db_url = args.postgres.rsplit("/", 1)[0] + f"/{name}"
    redis.Redis.from_url(args.redis).flushdb()
    try:
        migrate(async_database_url(db_url))
        db = Database(async_database_url(db_url))
        print(f"outbox benchmark: {args.rows} no-op jobs, PostgreSQL + Redis, arq workers")
        for workers in (1, 2):
            rate = await throughput(db, workers, args.rows, db_url, args.redis)
            print(f"  {workers} worker(s): {rate:,.0f} rows dispatched and completed per second")
        p50, p99 = await latency(db, db_url, args.redis)
        print(
            f"  commit -> job done (50 rows/s trickle, 1 worker): p50 {p50:.1f} ms, p99 {p99:.1f} ms"
        )
        await db.dispose()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
