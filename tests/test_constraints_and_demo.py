"""Money and stock are protected by the database itself, and the demo store seeds."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import func, select

from portal.demo import DEMO_LOGINS, seed_demo
from portal.models import (
    Order,
    OrderLine,
    PolicyVersion,
    Product,
    Refund,
    Return,
    StaffUser,
    StoreCreditCode,
    StoreCreditEntry,
    Variant,
)


async def _expect_refused(db, *rows) -> None:
    async with db.session() as session:
        for row in rows:
            session.add(row)
        with pytest.raises(IntegrityError):
            await session.commit()


async def _order(db) -> Order:
    async with db.session() as session:
        order = Order(
            number="1",
            email="a@example.com",
            currency="USD",
            total=1000,
            placed_at=datetime(2026, 11, 1, tzinfo=UTC),
        )
        session.add(order)
        await session.commit()
        return order


async def test_stock_cannot_go_negative_or_be_over_reserved(db) -> None:
    async with db.session() as session:
        product = Product(handle="p", title="P")
        session.add(product)
        await session.commit()
    await _expect_refused(db, Variant(product_id=product.id, sku="A", stock_on_hand=-1))
    await _expect_refused(
        db, Variant(product_id=product.id, sku="B", stock_on_hand=2, stock_reserved=3)
    )


async def test_order_lines_keep_quantities_and_money_sane(db) -> None:
    order = await _order(db)
    await _expect_refused(
        db, OrderLine(order_id=order.id, line_ref="L1", title="x", quantity=0, unit_price=100)
    )
    await _expect_refused(
        db,
        OrderLine(
            order_id=order.id,
            line_ref="L1",
            title="x",
            quantity=1,
            unit_price=100,
            returned_quantity=2,
        ),
    )
    await _expect_refused(
        db, OrderLine(order_id=order.id, line_ref="L1", title="x", quantity=1, unit_price=-5)
    )


async def test_only_one_policy_version_is_active(db) -> None:
    async with db.session() as session:
        session.add(
            PolicyVersion(version=1, name="a", yaml_text="", sha256="1", author="t", active=True)
        )
        session.add(
            PolicyVersion(version=2, name="b", yaml_text="", sha256="2", author="t", active=False)
        )
        await session.commit()
    await _expect_refused(
        db, PolicyVersion(version=3, name="c", yaml_text="", sha256="3", author="t", active=True)
    )


async def test_one_live_refund_per_return_and_positive_amounts(db) -> None:
    order = await _order(db)
    async with db.session() as session:
        ret = Return(rma="R-1", order_id=order.id, submission_key="k", currency="USD")
        session.add(ret)
        await session.commit()
        session.add(Refund(return_id=ret.id, amount=500, currency="USD", idempotency_key="r1"))
        await session.commit()
    await _expect_refused(
        db, Refund(return_id=ret.id, amount=500, currency="USD", idempotency_key="r2")
    )
    await _expect_refused(
        db,
        Refund(return_id=ret.id, amount=0, currency="USD", idempotency_key="r3", status="failed"),
    )
    async with db.session() as session:  # a failed one may be followed by a new attempt
        session.add(
            Refund(
                return_id=ret.id, amount=500, currency="USD", idempotency_key="r4", status="failed"
            )
        )
        await session.commit()
    await _expect_refused(
        db, Return(rma="R-2", order_id=order.id, submission_key="k", currency="USD")
    )
    await _expect_refused(
        db, Return(rma="R-3", order_id=order.id, submission_key="k3", currency="USD", status="lost")
    )


async def test_store_credit_entries_carry_the_right_sign(db) -> None:
    async with db.session() as session:
        code = StoreCreditCode(code="ABCD-EFGH", currency="USD")
        session.add(code)
        await session.commit()
    await _expect_refused(db, StoreCreditEntry(code_id=code.id, kind="redeem", amount=500))
    await _expect_refused(db, StoreCreditEntry(code_id=code.id, kind="issue", amount=-500))


async def test_times_come_back_as_aware_utc(db) -> None:
    order = await _order(db)
    async with db.session() as session:
        stored = await session.get(Order, order.id)
    assert stored.placed_at == datetime(2026, 11, 1, tzinfo=UTC)
    assert stored.placed_at.utcoffset().total_seconds() == 0
    async with db.session() as session:
        session.add(
            Order(
                number="naive",
                email="a@example.com",
                currency="USD",
                placed_at=datetime(2026, 11, 1),
            )
        )
        with pytest.raises(Exception, match="naive datetime"):
            await session.commit()


async def test_demo_seed_makes_a_believable_store_once(db) -> None:
    async with db.session() as session:
        summary = await seed_demo(session)
        again = await seed_demo(session)
        orders = (await session.exec(select(Order))).all()
        statuses = {
            "delivered": sum(1 for o in orders if o.delivered_at),
            "in transit": sum(1 for o in orders if o.fulfilled_at and not o.delivered_at),
            "unfulfilled": sum(1 for o in orders if not o.fulfilled_at),
        }
        users = (await session.exec(select(StaffUser))).all()
        out_of_stock = (
            await session.exec(
                select(func.count()).select_from(Variant).where(Variant.stock_on_hand == 0)
            )
        ).one()
    assert summary.orders == again.orders == 200
    assert summary.products == 30
    assert all(count > 0 for count in statuses.values()), statuses
    assert {tuple(u.roles) for u in users} == {tuple(r) for _, _, r, _ in DEMO_LOGINS}
    assert out_of_stock > 0  # exchanges must meet sold-out sizes in the demo
