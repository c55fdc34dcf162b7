"""One of two processes racing on a refund: ``n`` concurrent approvals, each followed by
an attempt to pay it. Prints what happened as JSON (run by test_concurrency)."""

from __future__ import annotations

import asyncio
import json
import sys

from portal.db import Database
from portal.models.staff import StaffUser
from portal.money.approvals import RefundDecisionError, approve
from portal.money.payouts import RefundInFlight, issue
from portal.payments.stripe_payments import StripePayments
from tests.support.localstripe_server import Recorder


async def main(url: str, refund_id: int, user_id: int, api_base: str, n: int) -> dict:
    db = Database(url)
    recorder = Recorder()
    payments = StripePayments("sk_test_portal", api_base=api_base, http_client=recorder)
    async with db.session() as session:
        user = await session.get(StaffUser, user_id)
    outcomes: list[str] = []

    async def one() -> None:
        async with db.session() as session:
            try:
                outcomes.append((await approve(session, refund_id, user, threshold=50000)).status)
            except RefundDecisionError:
                outcomes.append("refused")
        try:
            outcomes.append("paid:" + await issue(db, payments, refund_id))
        except RefundInFlight:
            outcomes.append("in_flight")

    await asyncio.gather(*(one() for _ in range(n)))
    await db.dispose()
    return {"outcomes": outcomes, "creates": len(recorder.refund_creates())}


if __name__ == "__main__":
    url, refund_id, user_id, api_base, n = sys.argv[1:6]
    print(json.dumps(asyncio.run(main(url, int(refund_id), int(user_id), api_base, int(n)))))
