"""The return state machine: which status may follow which, and the one function that moves
a return between them.

``requested → approved → label_issued → in_transit → delivered → received → inspected →
completed``, with ``rejected``, ``cancelled`` and ``expired`` as ends. A parcel may be
received before the carrier reports it moving or delivered (scans lag), and a return
whose every line is kept by the shopper goes from ``approved`` straight to ``completed``.

``transition`` checks the current state, sets the status's timestamp, bumps ``version``
with a compare-and-set (so two replicas cannot both move the same return) and writes the
audit event, all in the caller's transaction. The caller queues side effects and commits.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.audit import record
from portal.models.base import utcnow
from portal.models.returns import RETURN_STATUSES, Return, ReturnLine

TRANSITIONS: Mapping[str, frozenset[str]] = {
    "requested": frozenset({"approved", "rejected", "cancelled", "expired"}),
    "approved": frozenset({"label_issued", "completed", "cancelled", "expired"}),
    "label_issued": frozenset({"in_transit", "delivered", "received", "cancelled", "expired"}),
    "in_transit": frozenset({"delivered", "received"}),
    "delivered": frozenset({"received"}),
    "received": frozenset({"inspected"}),
    "inspected": frozenset({"completed"}),
    "completed": frozenset(),
    "rejected": frozenset(),
    "cancelled": frozenset(),
    "expired": frozenset(),
}
FINAL_STATUSES = frozenset({"completed", "rejected", "cancelled", "expired"})
CLOSED_WITHOUT_RESOLUTION = frozenset({"rejected", "cancelled", "expired"})
CANCELLABLE = frozenset({"requested", "approved", "label_issued"})
"""Not yet handed to the carrier: the shopper may still change their mind."""

_TIMESTAMPS = {
    "approved": "approved_at",
    "in_transit": "shipped_at",
    "delivered": "delivered_at",
    "received": "received_at",
    "inspected": "inspected_at",
    "completed": "completed_at",
}

assert set(TRANSITIONS) == set(RETURN_STATUSES)


class TransitionError(ValueError):
    """The move is not allowed from the return's current state (or someone moved it first)."""


def can_transition(from_status: str, to_status: str) -> bool:
    return to_status in TRANSITIONS.get(from_status, frozenset())


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
    if ret.status not in CANCELLABLE:
        return False
    return not (ret.status == "approved" and await keeps_everything(session, ret.id))  # type: ignore[arg-type]


async def transition(
    session: AsyncSession,
    ret: Return,
    to_status: str,
    actor: str,
    reason: str = "",
    data: dict[str, Any] | None = None,
    *,
    values: dict[str, Any] | None = None,
) -> Return:
    """Move ``ret`` to ``to_status`` in the caller's transaction (no commit).

    ``values`` are further columns changed by the same statement (``ship_by``, …).
    Raises ``TransitionError`` when the move is not allowed or the row changed underneath.
    """
    from_status = ret.status
    if to_status not in TRANSITIONS:
        raise TransitionError(f"{to_status!r} is not a return status")
    if not can_transition(from_status, to_status):
        raise TransitionError(f"Return {ret.rma} is {from_status}; it cannot become {to_status}.")
    if (
        from_status == "approved"
        and to_status == "completed"
        and not await keeps_everything(session, ret.id)  # type: ignore[arg-type]
    ):
        raise TransitionError(
            f"Return {ret.rma} has items that must come back before it can be completed."
        )
    now = utcnow()
    changes: dict[str, Any] = {"status": to_status, "updated_at": now, **(values or {})}
    column = _TIMESTAMPS.get(to_status)
    if column:
        changes[column] = now
    if to_status in FINAL_STATUSES:
        changes["closed_at"] = now
    result = await session.exec(  # type: ignore[call-overload]
        sa.update(Return)
        .where(Return.id == ret.id, Return.version == ret.version, Return.status == from_status)
        .values(version=Return.version + 1, **changes)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise TransitionError(f"Return {ret.rma} was changed by someone else; reload and retry.")
    for key, value in changes.items():
        set_committed_value(ret, key, value)
    set_committed_value(ret, "version", ret.version + 1)
    await record(
        session,
        actor,
        "return",
        ret.id,
        "status_changed",
        from_state=from_status,
        to_state=to_status,
        reason=reason,
        data=data,
    )
    return ret
