"""Scanning, receiving, grading and finishing an inspection through the domain."""

from __future__ import annotations

import asyncio

import pytest
from sqlmodel import func, select

from portal.models import (
    AuditEvent,
    Exchange,
    OutboxMessage,
    Refund,
    Return,
    ReturnLine,
    StoreCreditEntry,
    Variant,
)
from portal.models.warehouse import ParcelReceipt, UnknownParcel
from portal.money.credit import issue_credit
from portal.returns import receiving
from portal.returns.receiving import Grade, Station, WarehouseError, scan_candidates
from tests.returns.builders import DEFAULT_POLICY


async def scan(db, code, station, signer):
    async with db.session() as session:
        return await receiving.scan_parcel(session, code, station, signer)


async def grade(db, line_id, station, **kw):
    values = {"received_quantity": None, "condition": "as_new", "accepted": "yes"}
    values.update(kw)
    values.setdefault("disposition", "restock")
    async with db.session() as session:
        return await receiving.grade_line(session, line_id, Grade(**values), station)


async def finish(db, return_id, station, signer):
    async with db.session() as session:
        return await receiving.finish_inspection(session, return_id, station, signer)


async def count(db, model, *where):
    async with db.session() as session:
        query = select(func.count()).select_from(model)
        for condition in where:
            query = query.where(condition)
        return (await session.exec(query)).one()


async def get(db, model, id_):
    async with db.session() as session:
        return await session.get(model, id_)


def test_scan_candidates_understand_label_barcodes_and_typing() -> None:
    assert scan_candidates(" rma-abcde 12345 ")[0] == "RMA-ABCDE-12345"
    assert scan_candidates("rma-abcd-1234")[0] is None  # too short for an RMA
    assert scan_candidates("https://shop/r/7/RMA-ABCDE-12345?s=x")[0] == "RMA-ABCDE-12345"
    rma, tracking = scan_candidates("sbx 1234-5678")
    assert rma is None and tracking == ["SBX12345678"]
    usps = "420" + "07094" + "9400111899223100000000"
    assert "9400111899223100000000" in scan_candidates(usps)[1]
    assert scan_candidates("]C11z999aa10123456784")[1] == ["1Z999AA10123456784"]


async def test_scan_by_tracking_number_receives_the_parcel_once(
    db, shipped, station, signer, jobs
) -> None:
    s = await shipped({"L1": (2, "refund")})
    first = await scan(db, s.ret.tracking_code.lower(), station, signer)
    assert first.outcome == "received" and first.ok
    assert first.ret.status == "received"
    again = await scan(db, s.ret.tracking_code, station, signer)
    assert again.outcome == "already_received" and not again.ok
    assert "No second receipt" in again.message and "wendy" in again.message
    assert await count(db, ParcelReceipt) == 1
    receipt = (await get(db, Return, s.ret.id)).received_at
    assert receipt is not None
    async with db.session() as session:
        events = (
            await session.exec(
                select(AuditEvent).where(
                    AuditEvent.entity_type == "return",
                    AuditEvent.entity_id == s.ret.id,
                    AuditEvent.to_state == "received",
                )
            )
        ).all()
        keys = (await session.exec(select(OutboxMessage.dedupe_key))).all()
    assert len(events) == 1 and events[0].data["station"] == "dock-1"
    assert f"email:return_received:{s.ret.rma}" in keys


async def test_scan_by_rma_any_case_and_spacing(db, shipped, station, signer) -> None:
    s = await shipped({"L1": (1, "refund")})
    typed = s.ret.rma.lower().replace("-", " ")
    result = await scan(db, typed, station, signer)
    assert result.outcome == "received" and result.ret.id == s.ret.id


async def test_scan_of_a_usps_label_barcode_finds_the_tracking_number(
    db, shipped, station, signer
) -> None:
    s = await shipped({"L1": (1, "refund")})
    async with db.session() as session:
        ret = await session.get(Return, s.ret.id)
        ret.tracking_code = "9400111899223100000001"
        session.add(ret)
        await session.commit()
    result = await scan(db, "\x1d42007094" + "9400111899223100000001", station, signer)
    assert result.outcome == "received" and result.ret.id == s.ret.id


async def test_unknown_code_records_an_unknown_parcel(db, station, signer) -> None:
    result = await scan(db, "ZZ-NOT-A-PARCEL-42", station, signer)
    assert result.outcome == "unknown" and not result.ok
    parcel = await get(db, UnknownParcel, result.unknown.id)
    assert parcel.scanned_code == "ZZ-NOT-A-PARCEL-42" and parcel.station == "dock-1"
    assert parcel.warehouse == "main" and parcel.scanned_by == station.user_id
    async with db.session() as session:
        noted = await receiving.note_unknown_parcel(
            session, parcel.id, station, notes="Two blue scarves, no paperwork", resolved=True
        )
    assert noted.resolved and noted.resolved_by == station.user_id
    async with db.session() as session:
        with pytest.raises(WarehouseError, match="already closed"):
            await receiving.note_unknown_parcel(session, parcel.id, station, notes="again")


async def test_empty_scan_is_refused_and_writes_nothing(db, station, signer) -> None:
    with pytest.raises(WarehouseError, match="Scan a label"):
        await scan(db, "  \x1d ", station, signer)
    assert await count(db, UnknownParcel) == 0


async def test_a_return_not_yet_shipped_cannot_be_received(db, shipped, station, signer) -> None:
    s = await shipped({"L1": (1, "refund")})
    async with db.session() as session:
        ret = await session.get(Return, s.ret.id)
        ret.status = "cancelled"
        session.add(ret)
        await session.commit()
    result = await scan(db, s.ret.rma, station, signer)
    assert result.outcome == "not_receivable" and "cancelled" in result.message
    assert await count(db, ParcelReceipt) == 0


async def test_two_stations_scanning_at_once_give_one_receipt(db, shipped, worker, signer) -> None:
    s = await shipped({"L1": (2, "refund")})
    a = Station(worker.id, "user:a", "main", "dock-1")
    b = Station(worker.id, "user:b", "main", "dock-2")
    results = await asyncio.gather(
        scan(db, s.ret.tracking_code, a, signer), scan(db, s.ret.rma, b, signer)
    )
    outcomes = sorted(r.outcome for r in results)
    assert outcomes == ["already_received", "received"]
    assert await count(db, ParcelReceipt) == 1
    assert (
        await count(
            db,
            AuditEvent,
            AuditEvent.entity_id == s.ret.id,
            AuditEvent.entity_type == "return",
            AuditEvent.to_state == "received",
        )
        == 1
    )


async def test_grading_checks_input_and_changes_nothing_on_error(
    db, shipped, station, signer
) -> None:
    s = await shipped({"L1": (2, "refund")})
    await scan(db, s.ret.rma, station, signer)
    line = s.lines[0]
    cases = [
        ({"received_quantity": "3"}, "received_quantity"),
        ({"received_quantity": "x"}, "received_quantity"),
        ({"received_quantity": "2", "condition": "soggy"}, "condition"),
        ({"received_quantity": "2", "accepted": "no", "note": ""}, "note"),
        ({"received_quantity": "2", "condition": "damaged"}, "disposition"),
        ({"received_quantity": "1", "condition": "missing"}, "condition"),
        ({"received_quantity": "2", "condition": "wrong_item", "accepted": "yes"}, "accepted"),
        ({"received_quantity": "0", "condition": "missing", "accepted": "yes"}, "accepted"),
    ]
    for values, problem in cases:
        with pytest.raises(WarehouseError) as err:
            await grade(db, line.id, station, **values)
        assert problem in err.value.problems, (values, err.value.problems)
    fresh = await get(db, ReturnLine, line.id)
    assert fresh.condition is None and fresh.received_quantity is None


async def test_grading_before_receipt_is_refused(db, shipped, station) -> None:
    s = await shipped({"L1": (2, "refund")})
    with pytest.raises(WarehouseError, match="only be graded after"):
        await grade(db, s.lines[0].id, station, received_quantity="2")


async def test_refund_return_restocks_once_and_refunds_less_the_label_fee(
    db, shipped, station, signer
) -> None:
    s = await shipped({"L1": (2, "refund")})
    tee = s.variants["TEE-M"]
    before = (await get(db, Variant, tee)).stock_on_hand
    await scan(db, s.ret.tracking_code, station, signer)
    for _ in range(3):  # graded again and again: stock still moves once, at the end
        await grade(db, s.lines[0].id, station, received_quantity="2")
    assert (await get(db, Variant, tee)).stock_on_hand == before
    outcome = await finish(db, s.ret.id, station, signer)
    assert (await get(db, Variant, tee)).stock_on_hand == before + 2
    assert outcome.refund_amount == 5000 - 595 and outcome.refund_status == "approved"
    with pytest.raises(WarehouseError, match="only a received return"):
        await finish(db, s.ret.id, station, signer)
    with pytest.raises(WarehouseError):
        await grade(db, s.lines[0].id, station, received_quantity="2")
    assert (await get(db, Variant, tee)).stock_on_hand == before + 2
    async with db.session() as session:
        refunds = (await session.exec(select(Refund))).all()
        ret = await session.get(Return, s.ret.id)
        mail = (
            await session.exec(
                select(OutboxMessage).where(
                    OutboxMessage.dedupe_key == f"email:return_inspected:{s.ret.rma}"
                )
            )
        ).one()
    assert [(r.amount, r.status, r.auto_approved) for r in refunds] == [(4405, "approved", True)]
    assert ret.status == "inspected"
    assert mail.payload["context"]["refund_amount"] == 4405


async def test_partial_receipt_and_a_rejected_line(db, shipped, station, signer, jobs) -> None:
    s = await shipped({"L1": (2, "refund"), "L4": (1, "refund")})
    await scan(db, s.ret.rma, station, signer)
    tee_line, sock_line = s.lines
    await grade(db, tee_line.id, station, received_quantity="1", condition="opened")
    await grade(
        db,
        sock_line.id,
        station,
        received_quantity="1",
        condition="used",
        accepted="no",
        disposition="dispose",
        note="The socks have been worn.",
    )
    outcome = await finish(db, s.ret.id, station, signer)
    # tee: 5000 for two, one arrived -> 2500; socks rejected -> 0; label fee 595
    assert outcome.refund_amount == 2500 - 595
    assert [o.refund for o in outcome.lines] == [2500, 0]
    await jobs.drain()
    from portal.models import MailMessage

    async with db.session() as session:
        mail = (
            await session.exec(
                select(MailMessage).where(MailMessage.template == "return_inspected")
            )
        ).one()
    assert "The socks have been worn." in mail.text_body
    assert "not accepted" in mail.text_body


async def test_everything_rejected_gets_no_money_and_completes(
    db, shipped, station, signer
) -> None:
    s = await shipped({"L1": (1, "refund")})
    await scan(db, s.ret.rma, station, signer)
    await grade(
        db,
        s.lines[0].id,
        station,
        received_quantity="1",
        condition="wrong_item",
        accepted="no",
        disposition="return_to_shopper",
        note="This is a different brand's shirt.",
    )
    outcome = await finish(db, s.ret.id, station, signer)
    assert outcome.refund_amount == 0 and outcome.completed
    assert await count(db, Refund) == 0
    assert (await get(db, Return, s.ret.id)).status == "completed"


async def test_store_credit_is_issued_once_even_if_issued_at_approval(
    db, shipped, station, signer
) -> None:
    s = await shipped({"L1": (1, "store_credit")})
    amount = s.lines[0].store_credit_amount
    assert amount > 0
    async with db.session() as session:  # instant credit, as the approval step may issue it
        await issue_credit(
            session,
            currency="USD",
            amount=amount,
            customer_id=None,
            return_id=s.ret.id,
            actor="system",
            key=f"return:{s.ret.rma}",
        )
        await session.commit()
    await scan(db, s.ret.rma, station, signer)
    await grade(db, s.lines[0].id, station, received_quantity="1")
    outcome = await finish(db, s.ret.id, station, signer)
    assert outcome.credit_amount == amount and outcome.credit_already_issued
    assert outcome.completed
    assert await count(db, StoreCreditEntry, StoreCreditEntry.kind == "issue") == 1


async def test_store_credit_issued_on_receipt(db, shipped, station, signer) -> None:
    on_receipt = DEFAULT_POLICY.replace("issue: instant", "issue: on_receipt")
    s = await shipped({"L1": (1, "store_credit")}, policy_text=on_receipt)
    await scan(db, s.ret.rma, station, signer)
    await grade(db, s.lines[0].id, station, received_quantity="1")
    outcome = await finish(db, s.ret.id, station, signer)
    assert outcome.credit_code and not outcome.credit_already_issued
    async with db.session() as session:
        entries = (await session.exec(select(StoreCreditEntry))).all()
    assert sum(e.amount for e in entries) == s.lines[0].store_credit_amount
    assert all(e.return_id == s.ret.id for e in entries)


async def test_exchange_is_released_or_cancelled(db, shipped, station, signer) -> None:
    s = await shipped({"L1": (1, "exchange", "TEE-L")})
    large = s.variants["TEE-L"]
    reserved = (await get(db, Variant, large)).stock_reserved
    assert reserved == 1
    await scan(db, s.ret.rma, station, signer)
    await grade(db, s.lines[0].id, station, received_quantity="1")
    outcome = await finish(db, s.ret.id, station, signer)
    assert outcome.lines[0].exchange == "released"
    async with db.session() as session:
        exchange = (await session.exec(select(Exchange))).one()
        keys = (await session.exec(select(OutboxMessage.dedupe_key))).all()
    assert exchange.status == "released"
    assert (await get(db, Variant, large)).stock_reserved == 1  # still held until it ships
    assert f"email:return_inspected:{s.ret.rma}" in keys

    t = await shipped({"L1": (1, "exchange", "TEE-S")})
    small = t.variants["TEE-S"]
    await scan(db, t.ret.rma, station, signer)
    await grade(
        db,
        t.lines[0].id,
        station,
        received_quantity="1",
        condition="damaged",
        accepted="no",
        disposition="dispose",
        note="Torn seam that was not there when it shipped.",
    )
    outcome = await finish(db, t.ret.id, station, signer)
    assert outcome.lines[0].exchange == "cancelled" and outcome.refund_amount == 0
    assert (await get(db, Variant, small)).stock_reserved == 0


async def test_big_refund_waits_for_finance(db, shipped, station, signer) -> None:
    strict = DEFAULT_POLICY.replace(
        "auto_approve_refunds_below: 150", "auto_approve_refunds_below: 10"
    )
    s = await shipped({"L1": (1, "refund")}, policy_text=strict)
    await scan(db, s.ret.rma, station, signer)
    await grade(db, s.lines[0].id, station, received_quantity="1")
    outcome = await finish(db, s.ret.id, station, signer)
    assert outcome.refund_status == "pending_approval"
    assert (await get(db, Return, s.ret.id)).status == "inspected"


async def test_finish_refuses_until_every_line_is_graded(db, shipped, station, signer) -> None:
    s = await shipped({"L1": (2, "refund"), "L4": (1, "refund")})
    await scan(db, s.ret.rma, station, signer)
    await grade(db, s.lines[0].id, station, received_quantity="2")
    with pytest.raises(WarehouseError, match="Grade every item first: Sport Socks"):
        await finish(db, s.ret.id, station, signer)
    assert (await get(db, Return, s.ret.id)).status == "received"
    assert await count(db, Refund) == 0


async def test_undo_puts_the_return_back(db, shipped, station, signer) -> None:
    s = await shipped({"L1": (2, "refund")})
    await scan(db, s.ret.rma, station, signer)
    await grade(db, s.lines[0].id, station, received_quantity="2")
    async with db.session() as session:
        with pytest.raises(WarehouseError, match="Say why"):
            await receiving.undo_receipt(session, s.ret.id, "  ", station)
    async with db.session() as session:
        ret = await receiving.undo_receipt(session, s.ret.id, "Scanned the wrong box", station)
    assert ret.status == "label_issued"
    fresh = await get(db, Return, s.ret.id)
    assert fresh.status == "label_issued" and fresh.received_at is None
    assert (await get(db, ReturnLine, s.lines[0].id)).condition is None
    assert await count(db, ParcelReceipt) == 0
    assert (
        await count(
            db, AuditEvent, AuditEvent.action == "receipt_undone", AuditEvent.entity_id == s.ret.id
        )
        == 1
    )
    again = await scan(db, s.ret.rma, station, signer)
    assert again.outcome == "received"


async def test_queues_and_counts(db, shipped, station, signer) -> None:
    s = await shipped({"L1": (1, "refund")})
    t = await shipped({"L1": (1, "refund")})
    await scan(db, s.ret.rma, station, signer)
    await scan(db, "NO-SUCH-THING", station, signer)
    await grade(db, s.lines[0].id, station, received_quantity="1")
    async with db.session() as session:
        q = await receiving.queues(session, "main")
        counts = await receiving.daily_counts(session)
    assert [r.id for r in q.expected] == [t.ret.id] and q.expected_total == 1
    assert [r.id for r in q.to_grade] == [s.ret.id]
    assert [p.scanned_code for p in q.unknown] == ["NO-SUCH-THING"]
    assert [(c.person, c.received, c.graded, c.unknown) for c in counts] == [("wendy", 1, 1, 1)]
    async with db.session() as session:
        other = await receiving.queues(session, "west")
    assert other.expected_total == 0 and other.to_grade_total == 0
