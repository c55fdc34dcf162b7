"""The return state machine (``ReturnStatus`` and ``RETURN_TRANSITIONS`` in
``portal.models.returns``) and the return's label (``LabelState``), with the named moves.

``requested → approved → label_issued → in_transit → delivered → received → inspected →
completed``, with ``rejected``, ``cancelled`` and ``expired`` as ends. A parcel may be
received before the carrier reports it moving or delivered (scans lag), a return whose
every line is kept by the shopper goes from ``approved`` straight to ``completed``, and a
wrong scan is undone (``received`` back to where it was, ``undo_receipt``).

``transition`` (and the named moves built on it: ``approve``, ``reject``, ``cancel``,
``expire``, ``issue_label``, ``receive``, ``undo_receipt``, ``inspect``, ``complete`` …)
checks the current state, sets the status's timestamp, bumps ``version`` with a
compare-and-set (so two replicas cannot both move the same return) and writes the audit
event, all in the caller's transaction. The caller queues side effects and commits.

The label (``none → pending → ready → voided``, ``pending ⇄ failed``) moves with
``request_label``, ``fail_label`` and ``void_label``, or together with the return
(``approve`` requests it, ``issue_label`` makes it ready).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.audit import record
from portal.models.base import id_of, utcnow
from portal.models.returns import (
    LABEL_TRANSITIONS,
    RETURN_CANCELLABLE,
    RETURN_CLOSED,
    RETURN_TRANSITIONS,
    RETURN_UNDO,
    LabelState,
    Return,
    ReturnLine,
    ReturnStatus,
)
from portal.states import Machine, TransitionError

__all__ = [
    "LABELS",
    "RETURNS",
    "TransitionError",
    "approve",
    "can_cancel",
    "can_transition",
    "cancel",
    "complete",
    "expire",
    "fail_label",
    "inspect",
    "issue_label",
    "keeps_everything",
    "receive",
    "reject",
    "request_label",
    "transition",
    "undo_receipt",
    "void_label",
]

RETURNS = Machine(ReturnStatus, RETURN_TRANSITIONS, Return, "status", "return")
LABELS = Machine(LabelState, LABEL_TRANSITIONS, Return, "label_state", "return")

_TIMESTAMPS: Mapping[ReturnStatus, str] = {
    ReturnStatus.APPROVED: "approved_at",
    ReturnStatus.IN_TRANSIT: "shipped_at",
    ReturnStatus.DELIVERED: "delivered_at",
    ReturnStatus.RECEIVED: "received_at",
    ReturnStatus.INSPECTED: "inspected_at",
    ReturnStatus.COMPLETED: "completed_at",
}


def can_transition(from_status: str, to_status: str) -> bool:
    return RETURNS.can(from_status, to_status)


async def keeps_everything(session: AsyncSession, return_id: int) -> bool:
    """True when the shopper keeps every line of the return (``keep_item``): nothing ships
    back, the return is settled when it is approved (``portal.returns.returnless``)."""
    decisions = (
        await session.exec(select(ReturnLine.decision).where(ReturnLine.return_id == return_id))
    ).all()
    return bool(decisions) and all(d.get("keep_item") for d in decisions)


async def can_cancel(session: AsyncSession, ret: Return) -> bool:
    """The shopper may still call the return off: it has not shipped, and it is not a
    keep-every-item return already settled at approval (its money is on its way)."""
    if ret.status not in RETURN_CANCELLABLE:
        return False
    return not (ret.status == ReturnStatus.APPROVED and await keeps_everything(session, id_of(ret)))


async def transition(
    session: AsyncSession,
    ret: Return,
    to_status: str,
    actor: str,
    reason: str = "",
    data: dict[str, Any] | None = None,
    *,
    values: dict[str, Any] | None = None,
    label: LabelState | None = None,
    action: str = "status_changed",
    allowed: frozenset[ReturnStatus] | None = None,
) -> Return:
    """Move ``ret`` to ``to_status`` in the caller's transaction (no commit).

    ``values`` are further columns changed by the same statement (``ship_by``, …);
    ``label`` moves the label in the same statement (checked against its own table).
    Raises ``TransitionError`` when the move is not allowed or the row changed underneath.
    """
    try:
        target = ReturnStatus(to_status)
    except ValueError:
        raise TransitionError(f"{to_status!r} is not a return status") from None
    what = f"return {ret.rma}"
    RETURNS.check(ret, target, allowed=allowed, what=what)
    if (
        ret.status == ReturnStatus.APPROVED
        and target == ReturnStatus.COMPLETED
        and not await keeps_everything(session, id_of(ret))
    ):
        raise TransitionError(
            f"Return {ret.rma} has items that must come back before it can be completed."
        )
    now = utcnow()
    changes: dict[str, Any] = {"updated_at": now, "version": ret.version + 1, **(values or {})}
    column = _TIMESTAMPS.get(target)
    if column and allowed is None:
        changes[column] = now
    if target in RETURN_CLOSED:
        changes["closed_at"] = now
    where = [Return.version == ret.version]
    if label is not None and label != ret.label_state:
        LABELS.check(ret, label, what=f"the label of {ret.rma}")
        changes["label_state"] = label
        where.append(Return.label_state == ret.label_state)
    await RETURNS.move(
        session,
        ret,
        target,
        actor=actor,
        action=action,
        reason=reason,
        data=data,
        values=changes,
        where=where,
        allowed=allowed,
        what=what,
    )
    return ret


# --- named moves of the return ------------------------------------------------------------


async def approve(
    session: AsyncSession,
    ret: Return,
    actor: str,
    reason: str = "",
    *,
    ships_back: bool,
    values: dict[str, Any] | None = None,
) -> Return:
    """requested → approved; a return that ships back asks for its label (``pending``)."""
    return await transition(
        session,
        ret,
        ReturnStatus.APPROVED,
        actor,
        reason,
        values=values,
        label=LabelState.PENDING if ships_back else None,
    )


async def reject(
    session: AsyncSession, ret: Return, actor: str, reason: str, data: dict[str, Any] | None = None
) -> Return:
    return await transition(session, ret, ReturnStatus.REJECTED, actor, reason, data)


async def cancel(
    session: AsyncSession,
    ret: Return,
    actor: str,
    reason: str = "",
    data: dict[str, Any] | None = None,
) -> Return:
    """The shopper (or staff) calls the return off before it ships (``can_cancel``)."""
    if not await can_cancel(session, ret):
        raise TransitionError(f"Return {ret.rma} is {ret.status}; it cannot be cancelled.")
    return await transition(session, ret, ReturnStatus.CANCELLED, actor, reason, data)


async def expire(
    session: AsyncSession,
    ret: Return,
    actor: str,
    reason: str = "",
    data: dict[str, Any] | None = None,
) -> Return:
    return await transition(session, ret, ReturnStatus.EXPIRED, actor, reason, data)


async def issue_label(
    session: AsyncSession,
    ret: Return,
    actor: str,
    reason: str = "",
    data: dict[str, Any] | None = None,
    *,
    values: dict[str, Any] | None = None,
) -> Return:
    """approved → label_issued, the label ``ready``, with the label's columns in ``values``."""
    if ret.label_state in (LabelState.NONE, LabelState.FAILED):
        # asked for by an older path, or failed and retried: it is pending while bought
        await request_label(session, ret, actor, audit=False)
    return await transition(
        session,
        ret,
        ReturnStatus.LABEL_ISSUED,
        actor,
        reason,
        data,
        values=values,
        label=LabelState.READY,
    )


async def receive(
    session: AsyncSession,
    ret: Return,
    actor: str,
    reason: str = "",
    data: dict[str, Any] | None = None,
) -> Return:
    """The parcel is scanned at the warehouse (from any state awaiting it)."""
    return await transition(session, ret, ReturnStatus.RECEIVED, actor, reason, data)


async def undo_receipt(
    session: AsyncSession,
    ret: Return,
    back_to: str,
    actor: str,
    reason: str,
    data: dict[str, Any] | None = None,
) -> Return:
    """received → the state it was received from (a wrong scan): ``received_at`` cleared,
    audited as ``receipt_undone``. The only backward move (``RETURN_UNDO``)."""
    return await transition(
        session,
        ret,
        back_to,
        actor,
        reason,
        data,
        values={"received_at": None},
        action="receipt_undone",
        allowed=RETURN_UNDO.get(ReturnStatus(ret.status), frozenset()),
    )


async def inspect(
    session: AsyncSession,
    ret: Return,
    actor: str,
    reason: str = "",
    data: dict[str, Any] | None = None,
) -> Return:
    return await transition(session, ret, ReturnStatus.INSPECTED, actor, reason, data)


async def complete(
    session: AsyncSession,
    ret: Return,
    actor: str,
    reason: str = "",
    data: dict[str, Any] | None = None,
) -> Return:
    """inspected → completed, or approved → completed when the shopper keeps every item."""
    return await transition(session, ret, ReturnStatus.COMPLETED, actor, reason, data)


# --- the label ----------------------------------------------------------------------------


async def _move_label(
    session: AsyncSession,
    ret: Return,
    to: LabelState,
    actor: str,
    action: str,
    *,
    reason: str = "",
    data: dict[str, Any] | None = None,
    values: dict[str, Any] | None = None,
    audit: bool = True,
) -> None:
    """Move the label alone (the return's status stays); ``action`` names the audit event."""
    previous = ret.label_state
    if to != previous:
        await LABELS.move(
            session,
            ret,
            to,
            values={"updated_at": utcnow(), **(values or {})},
            what=f"the label of {ret.rma}",
            audit=False,
        )
    elif values:
        await LABELS.move(
            session,
            ret,
            to,
            values=values,
            allowed={to},
            what=f"the label of {ret.rma}",
            audit=False,
        )
    if audit:
        await record(
            session,
            actor,
            "return",
            ret.id,
            action,
            reason=reason,
            data={**(data or {}), "label": {"from": str(previous), "to": str(to)}},
        )


async def request_label(
    session: AsyncSession,
    ret: Return,
    actor: str,
    *,
    action: str = "label_requested",
    reason: str = "",
    data: dict[str, Any] | None = None,
    values: dict[str, Any] | None = None,
    audit: bool = True,
) -> None:
    """The label is to be bought (again): ``pending``."""
    await _move_label(
        session,
        ret,
        LabelState.PENDING,
        actor,
        action,
        reason=reason,
        data=data,
        values=values,
        audit=audit,
    )


async def fail_label(
    session: AsyncSession, ret: Return, message: str, *, retryable: bool, forget_shipment: bool
) -> None:
    """The carrier would not sell the label: a retryable failure stays ``pending`` for the
    next try, a definite one is ``failed`` until staff retry it."""
    if ret.label_state == LabelState.NONE:
        await request_label(session, ret, "system", audit=False)
    values: dict[str, Any] = {"label_error": message[:1000]}
    if forget_shipment:
        values["shipment_id"] = None
    await _move_label(
        session,
        ret,
        LabelState.PENDING if retryable else LabelState.FAILED,
        "system",
        "label_failed",
        reason=message[:2000],
        data={"retryable": retryable},
        values=values,
    )


async def void_label(session: AsyncSession, ret: Return, actor: str = "system") -> None:
    """The carrier took the unused label back: ``voided``."""
    if ret.label_state == LabelState.NONE:
        await request_label(session, ret, actor, audit=False)
    await _move_label(session, ret, LabelState.VOIDED, actor, "label_voided")
