"""A Hypothesis state machine over approvals, payment retries (lost responses), webhooks
and store-credit redemptions. Bounded: few examples, short runs, no deadline.

The fake provider ignores idempotency keys (like localstripe), so "pays once" is proved by
our claim and retry lookup, and "same key on every retry" by what it recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from typing import Any

from hypothesis import HealthCheck
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlmodel import select

from portal.accounts import create_user
from portal.db import Database
from portal.models.audit import AuditEvent
from portal.models.money import LIVE_REFUND_STATUSES, Refund, RefundApproval
from portal.models.returns import Return
from portal.money.approvals import RefundDecisionError, approve, bulk_approve, reject
from portal.money.credit import CreditError, balance, issue_credit, redeem
from portal.money.payouts import apply_provider_refunds, issue
from portal.money.refunds import RefundLimitExceeded, request_refund
from portal.payments import PaymentsError, ProviderRefund, RefundRequest
from portal.returns.create import Choice, ItemRequest
from portal.returns.links import LinkSigner
from tests.conftest import TEST_SECRET
from tests.returns.builders import seed_shop
from tests.returns.helpers import create

PAID = 5000
THRESHOLD = 3000
_numbers = itertools.count(1)


class FakeStripe:
    name = "stripe"
    automatic = True

    def __init__(self) -> None:
        self.created: list[ProviderRefund] = []
        self.keys: dict[int, set[str]] = {}
        self.lose_next = False

    async def refund(self, request: RefundRequest) -> ProviderRefund:
        self.keys.setdefault(request.refund_id, set()).add(request.idempotency_key)
        if request.retry:
            for r in self.created:
                if r.refund_id == request.refund_id:
                    return r
        made = ProviderRefund(
            f"re_{len(self.created) + 1}",
            "succeeded",
            request.amount,
            request.currency,
            request.refund_id,
        )
        self.created.append(made)
        if self.lose_next:
            self.lose_next = False
            raise PaymentsError("lost response", retryable=True)
        return made

    async def list_refunds(self) -> list[ProviderRefund]:
        return list(self.created)

    def parse_webhook(self, body: bytes, headers: Any) -> Any:
        raise NotImplementedError


class Money(RuleBasedStateMachine):
    url: str = ""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.db = Database(self.url)
        self.provider = FakeStripe()
        self.number = f"H{next(_numbers)}"
        self.return_id, self.users, self.code = self.run(self._setup())
        self.credit = 2000
        self.redeemed: dict[str, int] = {}

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    async def _setup(self) -> tuple[int, list[Any], Any]:
        shop = await seed_shop(self.db, number=self.number)
        tee = shop.lines["L1"]
        done = await create(
            self.db,
            LinkSigner(TEST_SECRET),
            shop.order_id,
            [ItemRequest(tee, 2, "changed_mind")],
            {tee: Choice("refund")},
        )
        async with self.db.session() as session:
            users = [
                await create_user(session, f"{n}-{self.number}@shop.example", "x" * 12, ["finance"])
                for n in ("a", "b")
            ]
            code = await issue_credit(
                session,
                currency="USD",
                amount=2000,
                customer_id=None,
                return_id=None,
                actor="t",
                key=f"h-{self.number}",
            )
            await session.commit()
        return done.ret.id, users, code

    def teardown(self) -> None:
        self.run(self.db.dispose())
        self.loop.close()

    async def _refunds(self) -> list[Refund]:
        async with self.db.session() as session:
            return list(
                (
                    await session.exec(
                        select(Refund).where(Refund.return_id == self.return_id).order_by(Refund.id)
                    )
                ).all()
            )

    @rule(
        amount=st.integers(1, 6000),
        auto=st.booleans(),
        purpose=st.sampled_from(["return", "exchange_difference"]),
    )
    def request(self, amount: int, auto: bool, purpose: str) -> None:
        async def go() -> None:
            async with self.db.session() as session:
                ret = await session.get(Return, self.return_id)
                try:
                    await request_refund(
                        session,
                        ret,
                        amount,
                        actor="t",
                        auto_approve=auto,
                        due_days=5,
                        purpose=purpose,
                    )
                    await session.commit()
                except RefundLimitExceeded:
                    await session.rollback()

        self.run(go())

    @rule(pick=st.integers(0, 5), who=st.integers(0, 1))
    def approve_one(self, pick: int, who: int) -> None:
        async def go() -> None:
            refunds = await self._refunds()
            if not refunds:
                return
            async with self.db.session() as session:
                with contextlib.suppress(RefundDecisionError, RefundLimitExceeded):
                    await approve(
                        session,
                        refunds[pick % len(refunds)].id,
                        self.users[who],
                        threshold=THRESHOLD,
                    )

        self.run(go())

    @rule(who=st.integers(0, 1))
    def bulk(self, who: int) -> None:
        async def go() -> None:
            ids = [r.id for r in await self._refunds()]
            async with self.db.session() as session:
                await bulk_approve(session, ids, self.users[who], threshold=THRESHOLD)

        self.run(go())

    @rule(pick=st.integers(0, 5))
    def reject_one(self, pick: int) -> None:
        async def go() -> None:
            refunds = await self._refunds()
            if refunds:
                async with self.db.session() as session:
                    with contextlib.suppress(RefundDecisionError):
                        await reject(session, refunds[pick % len(refunds)].id, self.users[0], "no")

        self.run(go())

    @rule(lose=st.booleans())
    def pay(self, lose: bool) -> None:
        async def go() -> None:
            for refund in await self._refunds():
                self.provider.lose_next = lose
                with contextlib.suppress(PaymentsError):
                    await issue(self.db, self.provider, refund.id)  # type: ignore[arg-type]
            self.provider.lose_next = False

        self.run(go())

    @rule()
    def webhooks(self) -> None:
        self.run(apply_provider_refunds(self.db, "stripe", list(self.provider.created)))

    @rule(amount=st.integers(1, 1500), key=st.sampled_from(["k1", "k2", "k3", "k4"]))
    def redeem_credit(self, amount: int, key: str) -> None:
        async def go() -> None:
            async with self.db.session() as session:
                try:
                    await redeem(
                        session, self.code.code, amount, key=f"{self.number}-{key}", actor="t"
                    )
                except CreditError:
                    return
            if key not in self.redeemed:
                self.redeemed[key] = amount

        self.run(go())

    @invariant()
    def money_is_right(self) -> None:
        async def check() -> None:
            refunds = await self._refunds()
            live = sum(r.amount for r in refunds if r.status in LIVE_REFUND_STATUSES)
            assert live <= PAID
            async with self.db.session() as session:
                for r in refunds:
                    approvals = len(
                        (
                            await session.exec(
                                select(RefundApproval).where(RefundApproval.refund_id == r.id)
                            )
                        ).all()
                    )
                    if r.status in ("approved", "processing", "succeeded"):
                        needed = 2 if r.amount >= THRESHOLD else 1
                        assert r.auto_approved or approvals >= needed, (r, approvals)
                    succeeded = (
                        await session.exec(
                            select(AuditEvent.id).where(
                                AuditEvent.entity_type == "refund",
                                AuditEvent.entity_id == r.id,
                                AuditEvent.action == "succeeded",
                            )
                        )
                    ).all()
                    assert len(succeeded) == (1 if r.status == "succeeded" else 0)
                    paid = [p for p in self.provider.created if p.refund_id == r.id]
                    assert len(paid) <= 1
                    assert self.provider.keys.get(r.id, {r.idempotency_key}) == {r.idempotency_key}
                    if r.status == "succeeded":
                        assert r.provider_reference == paid[0].reference
                left = await balance(session, self.code.id)
            assert left == 2000 - sum(self.redeemed.values()) >= 0

        self.run(check())


def test_money_state_machine(settings) -> None:
    Money.url = settings.resolved_database_url
    run_state_machine_as_test(
        Money,
        settings=hsettings(
            max_examples=8,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
