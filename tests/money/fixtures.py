"""Fixtures for the money tests: a return with a refund, made through the real domain."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlmodel import select

from portal.db import Database
from portal.models.audit import AuditEvent
from portal.models.money import Refund
from portal.models.orders import Order
from portal.models.returns import Return
from portal.money.refunds import request_refund
from portal.returns.create import Choice, ItemRequest
from portal.returns.links import LinkSigner
from tests.conftest import TEST_SECRET
from tests.returns.builders import seed_shop
from tests.returns.helpers import create
from tests.support.localstripe_server import localstripe
from tests.support.services import unavailable

TEE_PAID = 5000  # two tees at 25.00


@pytest.fixture
def signer() -> LinkSigner:
    return LinkSigner(TEST_SECRET)


@pytest.fixture
def make_refund(db: Database, signer: LinkSigner):
    """``await make_refund(amount, auto=False, number="1001", payment_reference=None)``:
    a return of two tees (5,000 paid) and a refund requested on it; returns the refund id."""

    async def make(
        amount: int = 4000,
        *,
        auto: bool = False,
        number: str = "1001",
        payment_reference: str | None = None,
        due_days: int = 5,
    ) -> int:
        shop = await seed_shop(db, number=number)
        tee = shop.lines["L1"]
        done = await create(
            db,
            signer,
            shop.order_id,
            [ItemRequest(tee, 2, "changed_mind")],
            {tee: Choice("refund")},
        )
        async with db.session() as session:
            if payment_reference is not None:
                order = await session.get(Order, shop.order_id)
                order.payment_reference = payment_reference
                session.add(order)
            ret = await session.get(Return, done.ret.id)
            refund = await request_refund(
                session, ret, amount, actor="test", auto_approve=auto, due_days=due_days
            )
            await session.commit()
            return refund.id

    return make


async def load_refund(db: Database, refund_id: int) -> Refund:
    async with db.session() as session:
        return await session.get(Refund, refund_id)


async def refund_events(db: Database, refund_id: int) -> list[str]:
    async with db.session() as session:
        rows = (
            await session.exec(
                select(AuditEvent.action)
                .where(AuditEvent.entity_type == "refund", AuditEvent.entity_id == refund_id)
                .order_by(AuditEvent.id)
            )
        ).all()
        return list(rows)


@pytest.fixture(scope="session")
def stripe_base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """localstripe on loopback for the whole session."""
    with localstripe(tmp_path_factory.mktemp("localstripe")) as base:
        if base is None:
            unavailable("localstripe is not installed")
        yield base  # type: ignore[misc]


def stripe_payments(base: str, recorder: Any = None, secret: str = "whsec_test") -> Any:
    from portal.payments.stripe_payments import StripePayments

    return StripePayments("sk_test_portal", secret, api_base=base, http_client=recorder)
