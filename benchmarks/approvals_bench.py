"""Approvals per second: bulk approve 1,000 refunds through the finance queue, on PostgreSQL.

A throwaway PostgreSQL database is migrated and seeded with 1,000 returns, each with one
refund waiting for approval (below the four-eyes threshold). Then, in process:

* ``http``: one finance user posts the queue's bulk-approve form with all 1,000 ids
  (CSRF, session, guard, the same handler a browser hits);
* ``domain``: ``portal.money.approvals.bulk_approve`` on a second batch of 1,000.

Each approval is its own transaction: lock the refund row, check its state, insert the
approval, check the refund cap, write two audit events, move it to ``approved`` and queue
its payment in the outbox.

Run: ``uv run python benchmarks/approvals_bench.py [--count 1000]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

POSTGRES_ADMIN_URL = os.environ.get(
    "PORTAL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


async def _admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(POSTGRES_ADMIN_URL.replace("postgresql://", "postgres://", 1))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def seed(url: str, count: int, prefix: str) -> list[int]:
    """``count`` returns of one line each, with a refund pending approval; returns refund ids."""
    from portal.db import Database
    from portal.models.base import utcnow
    from portal.models.money import Refund
    from portal.models.orders import Order, OrderLine
    from portal.models.returns import Return, ReturnLine

    db = Database(url)
    now = utcnow()
    ids: list[int] = []
    async with db.session() as session:
        for i in range(count):
            order = Order(
                number=f"{prefix}{i}",
                email=f"s{i}@example.com",
                currency="USD",
                placed_at=now - timedelta(days=5),
                total=5000,
                payment_reference=f"pi_{prefix}{i}",
            )
            session.add(order)
            await session.flush()
            line = OrderLine(
                order_id=order.id,
                line_ref="L1",
                sku="TEE-M",
                title="Tee",
                quantity=1,
                unit_price=5000,
            )
            ret = Return(
                rma=f"RMA-{prefix}{i}",
                order_id=order.id,
                submission_key=f"{prefix}{i}",
                currency="USD",
                status="inspected",
                refund_total=4000,
            )
            session.add_all([line, ret])
            await session.flush()
            session.add(
                ReturnLine(
                    return_id=ret.id,
                    order_line_id=line.id,
                    quantity=1,
                    reason_code="changed_mind",
                    resolution="refund",
                    refund_amount=4000,
                )
            )
            refund = Refund(
                return_id=ret.id,
                amount=4000,
                currency="USD",
                idempotency_key=f"refund-{prefix}{i}",
                due_at=now + timedelta(days=5),
            )
            session.add(refund)
            await session.flush()
            ids.append(refund.id)  # type: ignore[arg-type]
        await session.commit()
    await db.dispose()
    return ids


async def run(count: int) -> dict[str, object]:
    from litestar.testing import AsyncTestClient

    from portal.app import create_app
    from portal.db import Database, migrate
    from portal.models.money import Refund
    from portal.money.approvals import bulk_approve
    from portal.settings import Settings, async_database_url
    from tests.factories import PASSWORD, make_user

    name = f"portal_bench_{uuid.uuid4().hex[:8]}"
    await _admin(f'CREATE DATABASE "{name}"')
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        migrate(async_database_url(url))
        aurl = async_database_url(url)
        http_ids = await seed(aurl, count, "H")
        domain_ids = await seed(aurl, count, "D")
        db = Database(aurl)
        await make_user(db, "fin@bench.example", "finance")
        settings = Settings(
            _env_file=None,
            database_url=url,
            secret_key="b" * 64,  # type: ignore[call-arg]
            base_url="http://bench.local",
            inprocess_jobs=False,
            log_level="WARNING",
            data_dir=Path("/tmp") / name,
        )
        app = create_app(settings)
        async with AsyncTestClient(app=app, base_url="http://bench.local") as client:
            await client.get("/login")
            token = client.cookies.get("portal_csrf")
            await client.post(
                "/login",
                data={
                    "email": "fin@bench.example",
                    "password": PASSWORD,
                    "next": "",
                    "_csrf_token": token,
                },
            )
            await client.get("/finance/")
            token = client.cookies.get("portal_csrf")
            started = time.perf_counter()
            response = await client.post(
                "/finance/refunds/bulk-approve",
                data={"refund_id": [str(i) for i in http_ids], "_csrf_token": token},
                follow_redirects=False,
            )
            http_seconds = time.perf_counter() - started
            assert response.status_code == 303, response.text
        async with db.session() as session:
            from sqlmodel import select

            from portal.models.staff import StaffUser

            user = (await session.exec(select(StaffUser))).first()
            started = time.perf_counter()
            _done, errors = await bulk_approve(session, domain_ids, user, threshold=50000)  # type: ignore[arg-type]
            domain_seconds = time.perf_counter() - started
            approved = (await session.exec(select(Refund).where(Refund.status == "approved"))).all()
        await db.dispose()
        assert not errors and len(approved) == 2 * count, (errors, len(approved))
        return {
            "refunds": count,
            "http_seconds": round(http_seconds, 2),
            "http_approvals_per_second": round(count / http_seconds, 1),
            "domain_seconds": round(domain_seconds, 2),
            "domain_approvals_per_second": round(count / domain_seconds, 1),
        }
    finally:
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1000)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.count)), indent=2))


if __name__ == "__main__":
    main()
