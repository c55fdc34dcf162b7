"""Races: 50 approvals of one refund from two processes; a code redeemed concurrently."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from sqlmodel import select

from portal.models.money import RefundApproval, StoreCreditEntry
from portal.models.outbox import OutboxMessage
from portal.money.credit import InsufficientCredit, balance, issue_credit, redeem
from tests.factories import make_user
from tests.money.fixtures import load_refund, refund_events
from tests.support.localstripe_server import paid_intent, refunds_on

ROOT = Path(__file__).resolve().parents[2]


async def test_fifty_concurrent_approvals_from_two_processes_pay_once(
    db, settings, make_refund, stripe_base
) -> None:
    intent = paid_intent(stripe_base, 5000)
    refund_id = await make_refund(4000, payment_reference=intent)
    alice = await make_user(db, "alice@shop.example", "finance")
    bob = await make_user(db, "bob@shop.example", "finance")
    url = settings.resolved_database_url

    async def run(user_id: int) -> dict:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.money.concurrent_worker",
            url,
            str(refund_id),
            str(user_id),
            stripe_base,
            "25",
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
        assert proc.returncode == 0, err.decode()[-3000:]
        return json.loads(out.decode().strip().splitlines()[-1])

    results = await asyncio.gather(run(alice.id), run(bob.id))
    outcomes = [o for r in results for o in r["outcomes"]]
    assert outcomes.count("approved") == 1
    assert outcomes.count("refused") == 49
    assert sum(r["creates"] for r in results) == 1  # one Stripe call
    refund = await load_refund(db, refund_id)
    assert refund.status == "succeeded"
    assert (await refund_events(db, refund_id)).count("succeeded") == 1  # one ledger entry
    assert len(refunds_on(stripe_base, intent)) == 1
    async with db.session() as session:
        assert len((await session.exec(select(RefundApproval))).all()) == 1
        jobs = (
            await session.exec(select(OutboxMessage).where(OutboxMessage.job == "issue_refund"))
        ).all()
        assert len(jobs) == 1


async def test_a_code_redeemed_concurrently_never_goes_negative(db) -> None:
    async with db.session() as session:
        code = await issue_credit(
            session,
            currency="USD",
            amount=1000,
            customer_id=None,
            return_id=None,
            actor="test",
            key="race",
        )
        await session.commit()

    async def spend(i: int) -> str:
        async with db.session() as session:
            try:
                await redeem(session, code.code, 300, key=f"checkout-{i}", actor="test")
                return "ok"
            except InsufficientCredit:
                return "short"

    results = await asyncio.gather(*(spend(i) for i in range(20)))
    assert results.count("ok") == 3
    async with db.session() as session:
        assert await balance(session, code.id) == 100
        entries = (
            await session.exec(select(StoreCreditEntry).where(StoreCreditEntry.kind == "redeem"))
        ).all()
    assert len(entries) == 3
