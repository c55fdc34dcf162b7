"""The warehouse side of a return: find it by what is scanned, receive the parcel once,
grade each line, and finish the inspection by running the resolution.

Every function here is a domain operation with its own transaction: it locks what it
changes, writes audit events, queues side effects in the outbox and commits (or rolls back
and raises ``WarehouseError`` having changed nothing). Controllers only parse and render.

Money after inspection is the rule of ``portal.returns.settlement.plan`` (the same one
keep-every-item settlement, cancellation and expiry use), carried out by
``portal.returns.resolution.carry_out``: an accepted line pays its frozen decision pro rata
to what arrived, a rejected one nothing (its note is the reason the shopper reads), the
label fee comes out of the refund, store credit issued at approval and no longer due is
taken back as far as it is unspent, accepted exchanges are released and rejected ones
cancelled. Finishing also restocks what the grader sent back to the shelf.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from portal.audit import record
from portal.errors import DomainError
from portal.models.base import id_of, utcnow
from portal.models.catalog import Variant
from portal.models.money import RefundStatus
from portal.models.orders import Order, OrderLine
from portal.models.outbox import Media
from portal.models.returns import (
    CONDITIONS,
    DISPOSITIONS,
    RETURN_AFTER_RECEIPT,
    RETURN_AWAITING_PARCEL,
    Exchange,
    ExchangeStatus,
    Return,
    ReturnLine,
    ReturnStatus,
)
from portal.models.staff import StaffUser
from portal.models.warehouse import GradePhoto, ParcelReceipt, UnknownParcel
from portal.money.currency import format_money
from portal.returns import states
from portal.returns.context import policy_ref
from portal.returns.instant_credit import issued_code
from portal.returns.links import LinkSigner
from portal.returns.notify import ShopperEmail, notify_shopper, tell_store
from portal.returns.photos import PhotoError, check_photo, store_photo
from portal.returns.resolution import carry_out, plan_for
from portal.returns.rma import normalise_rma
from portal.returns.states import TransitionError

MAX_SCAN = 200
CONDITION_LABELS = {
    "as_new": "As new",
    "opened": "Opened",
    "used": "Used",
    "damaged": "Damaged",
    "wrong_item": "Wrong item",
    "missing": "Missing",
}
DISPOSITION_LABELS = {
    "restock": "Restock",
    "refurbish": "Refurbish",
    "dispose": "Dispose",
    "return_to_shopper": "Return to shopper",
}
NO_RESTOCK = frozenset({"damaged", "wrong_item", "missing"})


class WarehouseError(DomainError):
    """The action cannot go ahead; nothing was written.

    ``problems`` maps a form field to a sentence for the person at the station; ``kind``
    is ``invalid``, ``not_found`` or ``conflict``.
    """


@dataclass(frozen=True, slots=True)
class Station:
    """Who is scanning, where: stamped on every receipt and unknown parcel."""

    user_id: int
    actor: str
    warehouse: str = ""
    station: str = ""


# --- Finding a return by what was scanned ------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_RMA_IN_TEXT = re.compile(r"RMA[\s\-_]?([0-9A-Z]{5})[\s\-_]?([0-9A-Z]{5})", re.IGNORECASE)
_USPS_IMPB = re.compile(r"^420(\d{5}|\d{9})(\d{20,34})$")


def clean_scan(code: str) -> str:
    """What the scanner typed, without AIM prefixes, GS1 separators and stray spaces."""
    text = _CONTROL.sub("", code or "").strip()
    if text.startswith("]") and len(text) > 3:  # AIM symbology identifier, e.g. ]C1
        text = text[3:]
    return text[:MAX_SCAN]


def scan_candidates(code: str) -> tuple[str | None, list[str]]:
    """The RMA and tracking numbers a scan could stand for.

    Scanners deliver the label barcode's raw contents: a USPS IMpb carries ``420`` and the
    ZIP code before the tracking number, a FedEx 1D barcode ends with it; a slip's QR code
    or barcode carries the RMA. Case, spaces and dashes never matter.
    """
    text = clean_scan(code)
    compact = re.sub(r"[\s\-]", "", text).upper()
    rma = normalise_rma(compact)
    if rma is None:
        found = _RMA_IN_TEXT.search(text)
        if found:
            rma = normalise_rma(found.group(1) + found.group(2))
    tracking: list[str] = []
    if compact:
        tracking.append(compact)
        impb = _USPS_IMPB.match(compact)
        if impb:
            tracking.append(impb.group(2))
        if compact.isdigit() and len(compact) >= 30:
            tracking.extend([compact[-22:], compact[-15:], compact[-12:]])
    return rma, list(dict.fromkeys(tracking))


async def find_by_scan(session: AsyncSession, code: str, *, lock: bool = False) -> Return | None:
    """The return a scan names (tracking number, RMA or label barcode), else None.

    ``lock`` takes the row lock in the same round trip (the scan station receives next).
    """
    rma, tracking = scan_candidates(code)
    conditions = []
    if rma:
        conditions.append(col(Return.rma) == rma)
    if tracking:
        conditions.append(col(Return.tracking_code).in_(tracking))
    if not conditions:
        return None
    query = select(Return).where(sa.or_(*conditions)).limit(2)
    if lock:
        query = query.with_for_update()
    rows = (await session.exec(query)).all()
    if rma:
        for row in rows:
            if row.rma == rma:
                return row
    return rows[0] if rows else None


# --- Scanning and receiving ----------------------------------------------------------------


@dataclass
class ScanResult:
    """What a scan did, for the station to show (``ok`` picks the sound and colour)."""

    outcome: str  # received | already_received | not_receivable | unknown
    message: str
    ok: bool
    ret: Return | None = None
    receipt: ParcelReceipt | None = None
    unknown: UnknownParcel | None = None
    warnings: list[str] = field(default_factory=list)
    order: Order | None = None


async def _receipt(session: AsyncSession, return_id: int) -> ParcelReceipt | None:
    return (
        await session.exec(select(ParcelReceipt).where(ParcelReceipt.return_id == return_id))
    ).first()


async def _person(session: AsyncSession, user_id: int | None) -> str:
    if user_id is None:
        return "someone"
    user = await session.get(StaffUser, user_id)
    return (user.name or user.email) if user else "someone"


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


async def _already(session: AsyncSession, ret: Return) -> ScanResult:
    receipt = await _receipt(session, id_of(ret))
    if receipt is not None:
        who = await _person(session, receipt.received_by)
        where = f" at {receipt.station}" if receipt.station else ""
        message = (
            f"Already received: {ret.rma} was received by {who}{where} on "
            f"{_when(receipt.received_at)}. No second receipt was recorded."
        )
    else:
        message = f"Already received: {ret.rma} is {ret.status}. No second receipt was recorded."
    return ScanResult("already_received", message, False, ret=ret, receipt=receipt)


async def scan_parcel(
    session: AsyncSession, code: str, station: Station, signer: LinkSigner
) -> ScanResult:
    """One scan at a station: receive the matching return, or record an unknown parcel.

    Scanning a parcel that was already received records nothing and says who received it.
    """
    text = clean_scan(code)
    if not text:
        raise WarehouseError("Scan a label, tracking number or RMA.", {"code": "Nothing scanned."})
    ret = await find_by_scan(session, text, lock=True)
    if ret is None:
        parcel = UnknownParcel(
            scanned_code=text,
            warehouse=station.warehouse,
            station=station.station,
            scanned_by=station.user_id,
        )
        session.add(parcel)
        await session.flush()
        await record(
            session,
            station.actor,
            "unknown_parcel",
            parcel.id,
            "recorded",
            data={"scanned": text, "warehouse": station.warehouse, "station": station.station},
        )
        await session.commit()
        return ScanResult(
            "unknown",
            f"No return matches “{text}”. Recorded as unknown parcel #{parcel.id}: "
            "note what is inside.",
            False,
            unknown=parcel,
        )
    return await _receive(session, ret, station, signer, text)


async def receive(
    session: AsyncSession,
    return_id: int,
    station: Station,
    signer: LinkSigner,
    *,
    scanned: str = "",
) -> ScanResult:
    """Receive a return's parcel exactly once: the row is locked (PostgreSQL) and moved by
    compare-and-set, and the receipt's unique ``return_id`` backs both up, so two stations
    scanning the same parcel at the same moment record one receipt."""
    ret = (
        await session.exec(select(Return).where(Return.id == return_id).with_for_update())
    ).first()
    if ret is None:
        await session.rollback()
        raise WarehouseError("That return does not exist.", kind="not_found")
    return await _receive(session, ret, station, signer, scanned)


async def _receive(
    session: AsyncSession, ret: Return, station: Station, signer: LinkSigner, scanned: str
) -> ScanResult:
    """Receive ``ret``, already locked by the caller's open transaction."""
    return_id = id_of(ret)
    try:
        if ret.status in RETURN_AFTER_RECEIPT:
            result = await _already(session, ret)
            await session.commit()  # nothing written; ends the lock, keeps what was loaded
            return result
        if ret.status not in RETURN_AWAITING_PARCEL:
            why = {
                ReturnStatus.REQUESTED: "it is still waiting for review",
                ReturnStatus.APPROVED: "its label has not been issued yet",
                ReturnStatus.REJECTED: "it was rejected",
                ReturnStatus.CANCELLED: "it was cancelled",
                ReturnStatus.EXPIRED: "it expired",
            }.get(ret.status, f"it is {ret.status}")
            await session.commit()  # nothing written; ends the lock, keeps what was loaded
            return ScanResult(
                "not_receivable",
                f"Set aside: {ret.rma} cannot be received because {why}. Ask a supervisor.",
                False,
                ret=ret,
            )
        previous = ret.status
        warnings = []
        if station.warehouse and ret.destination and ret.destination != station.warehouse:
            warnings.append(
                f"This parcel was addressed to warehouse “{ret.destination}”, "
                f"not “{station.warehouse}”."
            )
        await states.receive(
            session,
            ret,
            station.actor,
            "Parcel scanned at the warehouse.",
            data={
                "warehouse": station.warehouse,
                "station": station.station,
                "scanned": scanned,
            },
        )
        receipt = ParcelReceipt(
            return_id=return_id,
            warehouse=station.warehouse,
            station=station.station,
            received_by=station.user_id,
            received_at=ret.received_at or utcnow(),
            previous_status=previous,
            scanned_code=scanned[:MAX_SCAN],
        )
        session.add(receipt)
        order = await session.get_one(Order, ret.order_id)
        await notify_shopper(session, ret, order, ShopperEmail.RECEIVED, signer)
        await tell_store(session, "return.received", ret, order.number)
        await session.commit()
    except (TransitionError, IntegrityError):
        # Another station won the race: report its receipt, write nothing.
        await session.rollback()
        fresh = await session.get(Return, return_id, populate_existing=True)
        if fresh is None:
            raise WarehouseError("That return does not exist.", kind="not_found") from None
        return await _already(session, fresh)
    except BaseException:
        await session.rollback()
        raise
    message = f"Received {ret.rma}. Grade each item below."
    return ScanResult(
        "received",
        message,
        not warnings,
        ret=ret,
        receipt=receipt,
        warnings=warnings,
        order=order,
    )


# --- Grading ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Grade:
    """What the grader saw for one line, as typed into the form (checked by ``grade_line``)."""

    received_quantity: str | int | None
    condition: str | None
    accepted: str | bool | None
    note: str = ""
    disposition: str | None = None


def _as_bool(value: str | bool | None) -> bool | None:
    if isinstance(value, bool) or value is None:
        return value
    return {"yes": True, "true": True, "accept": True, "1": True, "no": False, "false": False,
            "reject": False, "0": False}.get(value.strip().lower())  # fmt: skip


def check_grade(
    line: ReturnLine, order_line: OrderLine, grade: Grade
) -> tuple[int, str, bool, str, str | None]:
    """The grade as clean values, or a WarehouseError naming each problem."""
    problems: dict[str, str] = {}
    quantity: int | None = None
    raw_qty = grade.received_quantity
    try:
        quantity = int(str(raw_qty).strip()) if raw_qty not in (None, "") else None
    except ValueError:
        quantity = None
    if quantity is None or not 0 <= quantity <= line.quantity:
        problems["received_quantity"] = f"Enter how many arrived, from 0 to {line.quantity}."
    condition = (grade.condition or "").strip()
    if condition not in CONDITIONS:
        problems["condition"] = "Choose the condition."
    accepted = _as_bool(grade.accepted)
    if accepted is None:
        problems["accepted"] = "Choose accept or reject."
    note = (grade.note or "").strip()
    if len(note) > 2000:
        problems["note"] = "Keep the note under 2,000 characters."
    disposition = (grade.disposition or "").strip() or None
    if disposition is not None and disposition not in DISPOSITIONS:
        problems["disposition"] = "Choose what happens to the item."
    if not problems:
        assert quantity is not None
        if condition == "missing" and quantity > 0:
            problems["condition"] = (
                "Missing means nothing arrived: set the quantity to 0 or choose another condition."
            )
        if quantity == 0:
            if condition != "missing":
                problems["condition"] = "Nothing arrived: the condition is Missing."
            if accepted:
                problems["accepted"] = "Nothing arrived, so there is nothing to accept."
            disposition = None
        elif disposition is None:
            problems["disposition"] = "Choose what happens to the item."
        if accepted and condition == "wrong_item":
            problems["accepted"] = "A wrong item cannot be accepted; reject it and say why."
        if accepted is False and not note:
            problems["note"] = "Say why it is rejected; the shopper will read it."
        if disposition == "restock":
            if condition in NO_RESTOCK:
                problems["disposition"] = (
                    f"A {CONDITION_LABELS[condition].lower()} item cannot go back on the shelf."
                )
            elif order_line.variant_id is None:
                problems["disposition"] = (
                    "This item is not in the catalogue; it cannot be restocked."
                )
    if problems:
        raise WarehouseError("Check the grade: " + " ".join(problems.values()), problems)
    assert quantity is not None and accepted is not None
    return quantity, condition, accepted, note, disposition


async def _locked_return(session: AsyncSession, return_id: int) -> Return:
    ret = (
        await session.exec(select(Return).where(Return.id == return_id).with_for_update())
    ).first()
    if ret is None:
        raise WarehouseError("That return does not exist.", kind="not_found")
    return ret


async def grade_line(
    session: AsyncSession, line_id: int, grade: Grade, station: Station
) -> ReturnLine:
    """Record the grade of one line. A line may be graded again until inspection finishes;
    stock only moves when it does, so regrading can never restock twice."""
    try:
        line = await session.get(ReturnLine, line_id)
        if line is None:
            raise WarehouseError("That item does not exist.", kind="not_found")
        ret = await _locked_return(session, line.return_id)
        if ret.status != ReturnStatus.RECEIVED:
            raise WarehouseError(
                f"Return {ret.rma} is {ret.status}: items can only be graded after the parcel "
                "is received and before inspection is finished.",
                kind="conflict",
            )
        if line.decision.get("keep_item"):
            raise WarehouseError("The shopper keeps this item; there is nothing to grade.")
        order_line = await session.get(OrderLine, line.order_line_id)
        assert order_line is not None
        quantity, condition, accepted, note, disposition = check_grade(line, order_line, grade)
        before = {
            "received_quantity": line.received_quantity,
            "condition": line.condition,
            "accepted": line.accepted,
            "disposition": line.disposition,
        }
        line.received_quantity = quantity
        line.condition = condition
        line.accepted = accepted
        line.inspection_note = note
        line.disposition = disposition
        line.graded_by = station.user_id
        line.graded_at = utcnow()
        session.add(line)
        await record(
            session,
            station.actor,
            "return",
            ret.id,
            "line_graded" if before["condition"] is None else "line_regraded",
            reason=note,
            data={
                "line_id": line.id,
                "received_quantity": quantity,
                "condition": condition,
                "accepted": accepted,
                "disposition": disposition,
                "before": before if before["condition"] is not None else None,
                "station": station.station,
            },
        )
        await session.commit()
        return line
    except BaseException:
        await session.rollback()
        raise


async def add_grade_photo(
    session: AsyncSession, line_id: int, data: bytes, media_dir: Path, station: Station
) -> GradePhoto:
    """Keep a grader's photo of an item (proof of damage or of what came instead).

    The bytes are checked before anything is written; a bad file changes nothing.
    """
    try:
        check_photo(data)
    except PhotoError as exc:
        raise WarehouseError(str(exc), {"photo": str(exc)}) from None
    line = await session.get(ReturnLine, line_id)
    if line is None:
        raise WarehouseError("That item does not exist.", kind="not_found")
    ret = await session.get(Return, line.return_id)
    assert ret is not None
    if ret.status != ReturnStatus.RECEIVED:
        await session.rollback()
        raise WarehouseError(
            f"Return {ret.rma} is {ret.status}: photos are added while grading.",
            kind="conflict",
        )
    media = await store_photo(session, media_dir, ret.order_id, data, actor=station.actor)
    try:
        photo = GradePhoto(
            return_line_id=line_id,
            media_id=id_of(media),
            uploaded_by=station.user_id,
        )
        session.add(photo)
        await session.flush()
        await record(
            session,
            station.actor,
            "return",
            ret.id,
            "grade_photo_added",
            data={"line_id": line_id, "media_id": media.id},
        )
        await session.commit()
        return photo
    except BaseException:
        await session.rollback()
        raise


# --- Finishing the inspection ------------------------------------------------------------


@dataclass
class LineOutcome:
    line_id: int
    title: str
    resolution: str
    accepted: bool
    received: int
    requested: int
    refund: int = 0
    credit: int = 0
    exchange: ExchangeStatus | None = None  # released | cancelled
    reason: str = ""
    restocked: int = 0


@dataclass
class InspectionOutcome:
    """What finishing an inspection did, shown to the grader and sent to the shopper."""

    ret: Return
    lines: list[LineOutcome]
    refund_amount: int = 0
    refund_status: RefundStatus | None = None
    label_fee: int = 0
    credit_amount: int = 0
    credit_code: str | None = None
    credit_already_issued: bool = False
    credit_reversed: int = 0
    """Credit issued at approval and taken back because the inspection found it not due."""
    credit_uncollectable: int = 0
    """Credit not due that the shopper had already spent (recorded for finance)."""
    completed: bool = False


async def finish_inspection(
    session: AsyncSession,
    return_id: int,
    station: Station,
    signer: LinkSigner,
    *,
    now: datetime | None = None,
) -> InspectionOutcome:
    """received → inspected, with the whole resolution in one transaction: stock restocked,
    store credit issued, exchanges released, the refund requested (auto-approved per the
    policy), the shopper told the outcome. A return with nothing left for finance to pay
    goes on to completed."""
    moment = now or utcnow()
    try:
        ret = await _locked_return(session, return_id)
        if ret.status != ReturnStatus.RECEIVED:
            raise WarehouseError(
                f"Return {ret.rma} is {ret.status}; only a received return can be finished.",
                kind="conflict",
            )
        rows = (
            await session.exec(
                select(ReturnLine, OrderLine)
                .join(OrderLine, col(OrderLine.id) == ReturnLine.order_line_id)
                .where(ReturnLine.return_id == ret.id)
                .order_by(col(ReturnLine.id))
            )
        ).all()
        ungraded = [
            ol.title
            for line, ol in rows
            if not line.decision.get("keep_item") and line.condition is None
        ]
        if ungraded:
            raise WarehouseError(
                "Grade every item first: " + ", ".join(ungraded) + ".",
                {"form": "Some items are not graded yet."},
                kind="conflict",
            )
        if ret.policy_version_id is None:
            raise WarehouseError(f"Return {ret.rma} has no policy version.", kind="conflict")
        policy = (await policy_ref(session, ret.policy_version_id)).policy

        # The money: one plan, the same rule as every other ending (``settlement.plan``).
        the_plan = await plan_for(session, ret, "inspected")
        planned = {p.line_id: p for p in the_plan.lines}
        outcomes: list[LineOutcome] = []
        for line, order_line in rows:
            keep = bool(line.decision.get("keep_item"))
            lp = planned[id_of(line)]
            out = LineOutcome(
                line_id=id_of(line),
                title=order_line.title
                + (f" ({order_line.variant_title})" if order_line.variant_title else ""),
                resolution=line.resolution,
                accepted=True if keep else bool(line.accepted),
                received=line.quantity if keep else int(line.received_quantity or 0),
                requested=line.quantity,
                refund=lp.refund,
                credit=lp.credit,
                reason="" if keep or line.accepted else line.inspection_note,
            )
            if not keep and line.disposition == "restock" and out.received > 0:
                await session.exec(
                    sa.update(Variant)
                    .where(col(Variant.id) == order_line.variant_id)
                    .values(stock_on_hand=Variant.stock_on_hand + out.received)
                    .execution_options(synchronize_session=False)
                )
                out.restocked = out.received
            outcomes.append(out)
        summary = the_plan.summary()
        for entry, out in zip(summary["lines"], outcomes, strict=True):
            entry["restocked"] = out.restocked
        await states.inspect(session, ret, station.actor, "Inspection finished.", data=summary)
        order = await session.get(Order, ret.order_id)
        assert order is not None
        fmt = lambda amount: format_money(amount, ret.currency)  # noqa: E731
        done = await carry_out(
            session,
            ret,
            the_plan,
            policy=policy,
            actor=station.actor,
            step="inspection",
            reason=(
                f"Inspection of return {ret.rma}: the accepted items earn "
                f"{fmt(the_plan.credit)} of the {fmt(the_plan.credit_issued)} issued at approval."
                if the_plan.credit_issued
                else f"Inspection of return {ret.rma} finished."
            ),
            order_number=order.number,
            now=moment,
        )
        for out in outcomes:
            if out.line_id in done.released:
                out.exchange = ExchangeStatus.RELEASED
            elif planned[out.line_id].exchange == "cancel":
                out.exchange = ExchangeStatus.CANCELLED
        code, _ = await issued_code(session, ret)
        result = InspectionOutcome(
            ret=ret,
            lines=outcomes,
            label_fee=the_plan.label_fee,
            refund_amount=the_plan.refund if done.refund is not None else 0,
            refund_status=done.refund.status if done.refund is not None else None,
            credit_amount=the_plan.credit,
            credit_code=code.code if code is not None and the_plan.credit else None,
            credit_already_issued=the_plan.credit_issued > 0,
            credit_reversed=done.clawback.reversed if done.clawback else 0,
            credit_uncollectable=done.clawback.uncollectable if done.clawback else 0,
        )
        if done.refund is None:
            await states.complete(
                session,
                ret,
                station.actor,
                "Nothing left to pay after inspection.",
                data={"store_credit": the_plan.credit},
            )
            result.completed = True
        await notify_shopper(session, ret, order, ShopperEmail.INSPECTED, signer)
        await session.commit()
        return result
    except TransitionError as exc:
        await session.rollback()
        raise WarehouseError(str(exc), kind="conflict") from None
    except BaseException:
        await session.rollback()
        raise


# --- Undo and unknown parcels -------------------------------------------------------------


async def undo_receipt(
    session: AsyncSession, return_id: int, reason: str, station: Station
) -> Return:
    """A supervisor takes back a wrong scan: the return goes back to where it was, its
    grades are cleared and the receipt removed (the audit event keeps what it said)."""
    reason = reason.strip()
    if not reason:
        raise WarehouseError(
            "Say why the scan is undone.", {"reason": "Say why the scan is undone."}
        )
    try:
        ret = await _locked_return(session, return_id)
        receipt = await _receipt(session, return_id)
        if ret.status != ReturnStatus.RECEIVED or receipt is None:
            raise WarehouseError(
                f"Return {ret.rma} is {ret.status}: only a received parcel whose inspection "
                "is not finished can be undone.",
                kind="conflict",
            )
        try:
            await states.undo_receipt(
                session,
                ret,
                receipt.previous_status,
                station.actor,
                reason,
                data={
                    "received_by": receipt.received_by,
                    "received_at": receipt.received_at.isoformat(),
                    "station": receipt.station,
                    "warehouse": receipt.warehouse,
                    "scanned": receipt.scanned_code,
                },
            )
        except TransitionError:
            raise WarehouseError(
                f"Return {ret.rma} changed meanwhile; reload.", kind="conflict"
            ) from None
        await session.exec(
            sa.update(ReturnLine)
            .where(col(ReturnLine.return_id) == ret.id)
            .values(
                received_quantity=None,
                condition=None,
                accepted=None,
                inspection_note="",
                disposition=None,
                graded_by=None,
                graded_at=None,
            )
            .execution_options(synchronize_session=False)
        )
        await session.delete(receipt)
        await session.commit()
        return ret
    except BaseException:
        await session.rollback()
        raise


async def note_unknown_parcel(
    session: AsyncSession,
    parcel_id: int,
    station: Station,
    *,
    notes: str,
    resolved: bool = False,
) -> UnknownParcel:
    """Write down what is in an unknown parcel, and close it once it is sorted out."""
    notes = notes.strip()
    if len(notes) > 2000:
        raise WarehouseError("Keep the note under 2,000 characters.", {"notes": "Too long."})
    if resolved and not notes:
        raise WarehouseError(
            "Say how it was sorted out before closing it.",
            {"notes": "Say how it was sorted out."},
        )
    try:
        parcel = (
            await session.exec(
                select(UnknownParcel).where(UnknownParcel.id == parcel_id).with_for_update()
            )
        ).first()
        if parcel is None:
            raise WarehouseError("That unknown parcel does not exist.", kind="not_found")
        if parcel.resolved:
            raise WarehouseError(f"Unknown parcel #{parcel_id} is already closed.", kind="conflict")
        parcel.notes = notes
        if resolved:
            parcel.resolved = True
            parcel.resolved_by = station.user_id
            parcel.resolved_at = utcnow()
        session.add(parcel)
        await record(
            session,
            station.actor,
            "unknown_parcel",
            parcel.id,
            "resolved" if resolved else "noted",
            reason=notes,
        )
        await session.commit()
        return parcel
    except BaseException:
        await session.rollback()
        raise


# --- Reading: the return at the station, queues and counts -------------------------------


@dataclass
class LineView:
    line: ReturnLine
    order_line: OrderLine
    exchange: Exchange | None
    exchange_variant: Variant | None
    photo: Media | None
    grade_photos: list[int] = field(default_factory=list)

    @property
    def keep_item(self) -> bool:
        return bool(self.line.decision.get("keep_item"))


@dataclass
class ReturnView:
    ret: Return
    order: Order
    lines: list[LineView]
    receipt: ParcelReceipt | None
    received_by: str = ""

    @property
    def graded(self) -> bool:
        return all(v.keep_item or v.line.condition is not None for v in self.lines)


async def return_view(
    session: AsyncSession,
    return_id: int,
    *,
    receipt: ParcelReceipt | None = None,
    order: Order | None = None,
    receiver: StaffUser | None = None,
) -> ReturnView | None:
    """A return with what the grader needs: items, reasons, photos, chosen resolutions.

    ``receipt``, ``order`` and ``receiver``, when the caller just had them, save round
    trips on the scan path (the station's hottest request).
    """
    ret = await session.get(Return, return_id, populate_existing=receipt is None)
    if ret is None:
        return None
    if order is None or order.id != ret.order_id:
        order = await session.get(Order, ret.order_id)
    assert order is not None
    rows = (
        await session.exec(
            # sqlmodel's select() is typed for at most four entities; this is five.
            select(ReturnLine, OrderLine, Exchange, Variant, Media)  # type: ignore[call-overload]
            .join(OrderLine, col(OrderLine.id) == ReturnLine.order_line_id)
            .join(Exchange, col(Exchange.return_line_id) == ReturnLine.id, isouter=True)
            .join(Variant, col(Variant.id) == Exchange.variant_id, isouter=True)
            .join(Media, col(Media.id) == ReturnLine.photo_media_id, isouter=True)
            .where(ReturnLine.return_id == return_id)
            .order_by(col(ReturnLine.id))
            .execution_options(populate_existing=True)
        )
    ).all()
    if receipt is None:
        receipt = await _receipt(session, return_id)
    who = ""
    if receipt is not None:
        who = (
            (receiver.name or receiver.email)
            if receiver is not None and receiver.id == receipt.received_by
            else await _person(session, receipt.received_by)
        )
    views = [LineView(*row) for row in rows]
    if receipt is not None:  # graders' photos exist only once a parcel is in
        by_line = {v.line.id: v for v in views}
        for line_id, media_id in (
            await session.exec(
                select(GradePhoto.return_line_id, GradePhoto.media_id)
                .where(col(GradePhoto.return_line_id).in_(list(by_line)))
                .order_by(col(GradePhoto.id))
            )
        ).all():
            by_line[line_id].grade_photos.append(media_id)
    return ReturnView(
        ret=ret,
        order=order,
        lines=views,
        receipt=receipt,
        received_by=who,
    )


@dataclass
class Queues:
    expected: Sequence[Return]
    to_grade: Sequence[Return]
    unknown: Sequence[UnknownParcel]
    expected_total: int = 0
    to_grade_total: int = 0
    unknown_total: int = 0


async def queues(session: AsyncSession, warehouse: str = "", *, limit: int = 50) -> Queues:
    """Parcels on their way to this warehouse, received ones not graded, unknown parcels."""

    def for_warehouse(query: SelectOfScalar[Return]) -> SelectOfScalar[Return]:
        return query.where(Return.destination == warehouse) if warehouse else query

    expected_q = for_warehouse(select(Return).where(col(Return.status).in_(RETURN_AWAITING_PARCEL)))
    grade_q = for_warehouse(select(Return).where(Return.status == ReturnStatus.RECEIVED))
    unknown_q = select(UnknownParcel).where(col(UnknownParcel.resolved).is_(False))
    if warehouse:
        unknown_q = unknown_q.where(UnknownParcel.warehouse == warehouse)

    async def count(query: SelectOfScalar[Any]) -> int:
        return int(
            (await session.exec(select(sa.func.count()).select_from(query.subquery()))).one()
        )

    return Queues(
        expected=(
            await session.exec(
                expected_q.order_by(
                    col(Return.delivered_at).desc().nulls_last(), col(Return.id)
                ).limit(limit)
            )
        ).all(),
        to_grade=(
            await session.exec(
                grade_q.order_by(col(Return.received_at), col(Return.id)).limit(limit)
            )
        ).all(),
        unknown=(
            await session.exec(
                unknown_q.order_by(col(UnknownParcel.created_at).desc()).limit(limit)
            )
        ).all(),
        expected_total=await count(expected_q),
        to_grade_total=await count(grade_q),
        unknown_total=await count(unknown_q),
    )


@dataclass(frozen=True, slots=True)
class PersonCount:
    person: str
    received: int
    graded: int
    unknown: int


async def daily_counts(session: AsyncSession, day: datetime | None = None) -> list[PersonCount]:
    """Per person, on one UTC day: parcels received, items graded, unknown parcels logged."""
    start = (day or utcnow()).astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    end = start + timedelta(days=1)
    tallies: dict[int, list[int]] = {}
    queries = (
        select(ParcelReceipt.received_by, sa.func.count())
        .where(ParcelReceipt.received_at >= start, ParcelReceipt.received_at < end)
        .group_by(col(ParcelReceipt.received_by)),
        select(ReturnLine.graded_by, sa.func.count())
        .where(col(ReturnLine.graded_at) >= start, col(ReturnLine.graded_at) < end)
        .group_by(col(ReturnLine.graded_by)),
        select(UnknownParcel.scanned_by, sa.func.count())
        .where(UnknownParcel.created_at >= start, UnknownParcel.created_at < end)
        .group_by(col(UnknownParcel.scanned_by)),
    )
    for index, query in enumerate(queries):
        for user_id, n in (await session.exec(query)).all():
            if user_id is not None:
                tallies.setdefault(user_id, [0, 0, 0])[index] = int(n)
    if not tallies:
        return []
    users = {
        u.id: (u.name or u.email)
        for u in (
            await session.exec(select(StaffUser).where(col(StaffUser.id).in_(list(tallies))))
        ).all()
    }
    return sorted(
        (PersonCount(users.get(uid, f"#{uid}"), *counts) for uid, counts in tallies.items()),
        key=lambda c: (-(c.received + c.graded + c.unknown), c.person),
    )
