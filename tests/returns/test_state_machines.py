"""The return's other machines: its label, its exchanges, and undoing a receipt. An illegal
move is refused and changes nothing; of two moves at once one wins; each is audited."""

from __future__ import annotations

import pytest
from sqlmodel import select

from portal.models.audit import AuditEvent
from portal.models.returns import Exchange, ExchangeStatus, LabelState, Return, ReturnStatus
from portal.returns import exchange_states, states
from portal.returns.create import Choice, ItemRequest
from portal.states import TransitionError
from tests.returns.builders import seed_shop
from tests.returns.helpers import audit, create, load


async def _exchange_return(db, signer):
    shop = await seed_shop(db)
    tee, large = shop.lines["L1"], shop.variants["TEE-L"]
    done = await create(
        db,
        signer,
        shop.order_id,
        [ItemRequest(tee, 1, "too_small")],
        {tee: Choice("exchange", large)},
    )
    async with db.session() as session:
        exchange = (await session.exec(select(Exchange))).one()
    return done.ret, exchange


async def _exchange_events(db, exchange_id: int) -> list[tuple[str, str | None, str | None]]:
    async with db.session() as session:
        rows = (
            await session.exec(
                select(AuditEvent)
                .where(AuditEvent.entity_type == "exchange", AuditEvent.entity_id == exchange_id)
                .order_by(AuditEvent.id)
            )
        ).all()
        return [(e.action, e.from_state, e.to_state) for e in rows]


async def test_a_cancelled_exchange_is_never_shipped(db, signer) -> None:
    _, exchange = await _exchange_return(db, signer)
    async with db.session() as session:
        row = await session.get(Exchange, exchange.id)
        await exchange_states.cancel(session, row, "shopper", reason="Changed my mind")
        await session.commit()
    async with db.session() as session:
        row = await session.get(Exchange, exchange.id)
        for move in (exchange_states.ship, exchange_states.release):
            with pytest.raises(TransitionError, match="is cancelled; it cannot become"):
                await move(session, row, "warehouse")
        await session.commit()
    async with db.session() as session:
        row = await session.get(Exchange, exchange.id)
    assert row.status == ExchangeStatus.CANCELLED and row.quantity == exchange.quantity
    assert await _exchange_events(db, exchange.id) == [("cancelled", "reserved", "cancelled")]


async def test_releasing_and_cancelling_an_exchange_at_once_one_wins(db, signer) -> None:
    _, exchange = await _exchange_return(db, signer)
    async with db.session() as first, db.session() as second:
        a = await first.get(Exchange, exchange.id)
        b = await second.get(Exchange, exchange.id)
        await exchange_states.release(first, a, "station:1")
        await first.commit()
        with pytest.raises(TransitionError, match="changed by someone else"):
            await exchange_states.cancel(second, b, "shopper")
        await second.rollback()
    async with db.session() as session:
        assert (await session.get(Exchange, exchange.id)).status == ExchangeStatus.RELEASED
    assert await _exchange_events(db, exchange.id) == [("released", "reserved", "released")]


async def test_undoing_a_receipt_goes_back_only_to_where_the_parcel_was(db, signer) -> None:
    ret, _ = await _exchange_return(db, signer)
    async with db.session() as session:
        row = await session.get(Return, ret.id)
        await states.issue_label(session, row, "system", values={"tracking_code": "TRK1"})
        await states.receive(session, row, "station:1")
        await session.commit()
    async with db.session() as session:
        row = await session.get(Return, ret.id)
        with pytest.raises(TransitionError, match="is received; it cannot become approved"):
            await states.undo_receipt(session, row, ReturnStatus.APPROVED, "lead", "wrong scan")
        await states.undo_receipt(session, row, ReturnStatus.LABEL_ISSUED, "lead", "wrong scan")
        await session.commit()
    row = await load(db, ret.id)
    assert row.status == ReturnStatus.LABEL_ISSUED and row.received_at is None
    assert (await audit(db, ret.id))[-1] == ("receipt_undone", "received", "label_issued")
    async with db.session() as session:
        row = await session.get(Return, ret.id)
        with pytest.raises(TransitionError, match="is label_issued; it cannot become"):
            await states.undo_receipt(session, row, ReturnStatus.APPROVED, "lead", "again")


async def test_the_label_moves_with_the_return_and_a_voided_label_stays_voided(db, signer) -> None:
    ret, _ = await _exchange_return(db, signer)
    assert (await load(db, ret.id)).label_state == LabelState.PENDING  # asked for at approval
    async with db.session() as session:
        row = await session.get(Return, ret.id)
        await states.fail_label(session, row, "No rates", retryable=False, forget_shipment=False)
        await session.commit()
    row = await load(db, ret.id)
    assert row.label_state == LabelState.FAILED and row.label_error == "No rates"
    assert row.status == ReturnStatus.APPROVED
    async with db.session() as session:
        row = await session.get(Return, ret.id)
        await states.request_label(session, row, "user:ops@shop.example", action="label_retried")
        await states.issue_label(session, row, "system", values={"tracking_code": "TRK2"})
        await states.void_label(session, row)
        with pytest.raises(TransitionError, match="is voided; it cannot become pending"):
            await states.request_label(session, row, "user:ops@shop.example")
        await session.commit()
    row = await load(db, ret.id)
    assert (row.status, row.label_state) == (ReturnStatus.LABEL_ISSUED, LabelState.VOIDED)
    assert [e[0] for e in await audit(db, ret.id)][-4:] == [
        "label_failed",
        "label_retried",
        "status_changed",
        "label_voided",
    ]
