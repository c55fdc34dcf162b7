"""Staff review (approve or reject) and shopper cancellation of a return.

Each function locks the return, moves it with ``transition`` (which writes the audit
event), releases exchange stock when the return is called off, queues its side effects in
the outbox, and commits. A move that is no longer possible raises ``ReturnError``.
Approval issues store credit when the policy issues it instantly; cancellation takes
unspent instant credit back (see ``portal.returns.instant_credit``).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.jobs.outbox import enqueue
from portal.models.base import utcnow
from portal.models.catalog import Variant
from portal.models.orders import Order
from portal.models.returns import Exchange, Return, ReturnLine
from portal.returns.context import policy_ref
from portal.returns.create import ReturnError, approve_in_transaction
from portal.returns.instant_credit import email_context, withdraw
from portal.returns.links import LinkSigner
from portal.returns.notify import notify_shopper
from portal.returns.states import CANCELLABLE, TransitionError, can_cancel, transition


async def _locked(session: AsyncSession, return_id: int) -> Return:
    ret = (
        await session.exec(select(Return).where(Return.id == return_id).with_for_update())
    ).first()
    if ret is None:
        raise ReturnError("That return does not exist.", kind="not_found")
    return ret


async def release_reservations(
    session: AsyncSession, ret: Return, status: str = "cancelled"
) -> list[int]:
    """Give back the stock held for this return's exchanges; returns the exchange ids."""
    rows = (
        await session.exec(
            select(Exchange)
            .join(ReturnLine, ReturnLine.id == Exchange.return_line_id)  # type: ignore[arg-type]
            .where(ReturnLine.return_id == ret.id, Exchange.status == "reserved")
        )
    ).all()
    released = []
    for exchange in rows:
        await session.exec(  # type: ignore[call-overload]
            sa.update(Variant)
            .where(Variant.id == exchange.variant_id, Variant.stock_reserved >= exchange.quantity)
            .values(stock_reserved=Variant.stock_reserved - exchange.quantity)
            .execution_options(synchronize_session=False)
        )
        exchange.status = status
        exchange.updated_at = utcnow()
        session.add(exchange)
        released.append(exchange.id)  # type: ignore[arg-type]
    return released


async def approve_return(
    session: AsyncSession, return_id: int, actor: str, signer: LinkSigner, note: str = ""
) -> Return:
    """A reviewer lets a return go ahead: label and slip are queued, the shopper told."""
    try:
        ret = await _locked(session, return_id)
        if ret.status != "requested":
            raise ReturnError(f"Return {ret.rma} is already {ret.status}.", kind="conflict")
        if ret.policy_version_id is None:
            raise ReturnError(f"Return {ret.rma} has no policy version.", kind="conflict")
        policy = await policy_ref(session, ret.policy_version_id)
        await approve_in_transaction(session, ret, policy, actor, note or "Approved on review.")
        order = await session.get(Order, ret.order_id)
        await notify_shopper(session, ret, order, "approved", signer)  # type: ignore[arg-type]
        await session.commit()
        return ret
    except TransitionError as exc:
        await session.rollback()
        raise ReturnError(str(exc), kind="conflict") from None
    except BaseException:
        await session.rollback()
        raise


async def reject_return(
    session: AsyncSession, return_id: int, actor: str, signer: LinkSigner, reason: str
) -> Return:
    """A reviewer turns a return down; the shopper is told why and exchange stock is freed."""
    reason = reason.strip()
    if not reason:
        raise ReturnError(
            "Say why the return is rejected; the shopper will read it.",
            {"reason": "Say why the return is rejected."},
        )
    try:
        ret = await _locked(session, return_id)
        if ret.status != "requested":
            raise ReturnError(f"Return {ret.rma} is already {ret.status}.", kind="conflict")
        released = await release_reservations(session, ret, "cancelled")
        await transition(
            session, ret, "rejected", actor, reason, data={"released_exchanges": released}
        )
        order = await session.get(Order, ret.order_id)
        await notify_shopper(session, ret, order, "rejected", signer, reason)  # type: ignore[arg-type]
        await session.commit()
        return ret
    except TransitionError as exc:
        await session.rollback()
        raise ReturnError(str(exc), kind="conflict") from None
    except BaseException:
        await session.rollback()
        raise


async def cancel_return(
    session: AsyncSession,
    return_id: int,
    actor: str,
    signer: LinkSigner,
    reason: str = "",
) -> Return:
    """The shopper calls the return off before it ships: stock is freed, a bought label
    is voided through the outbox, store credit issued at approval is taken back (what is
    left of it; what was spent is recorded for finance), and the shopper gets a
    confirmation. A return whose every item the shopper keeps cannot be cancelled once
    approved: it was settled then."""
    try:
        ret = await _locked(session, return_id)
        if ret.status in CANCELLABLE and not await can_cancel(session, ret):
            raise ReturnError(
                f"Return {ret.rma} can no longer be cancelled: you keep the items and it "
                "was settled when it was approved.",
                kind="conflict",
            )
        if ret.status not in CANCELLABLE:
            raise ReturnError(
                f"Return {ret.rma} can no longer be cancelled: it is {ret.status.replace('_', ' ')}.",
                kind="conflict",
            )
        had_label = ret.label_state == "ready" or ret.shipment_id is not None
        released = await release_reservations(session, ret, "cancelled")
        await transition(
            session,
            ret,
            "cancelled",
            actor,
            reason or "Cancelled by the shopper.",
            data={"released_exchanges": released, "void_label": had_label},
        )
        if had_label:
            await enqueue(session, "void_label", {"return_id": ret.id}, key=f"void_label:{ret.rma}")
        clawback = await withdraw(
            session,
            ret,
            still_due=0,
            step="cancelled",
            actor=actor,
            reason=f"Return {ret.rma} was cancelled; its store credit is no longer due.",
        )
        order = await session.get(Order, ret.order_id)
        await notify_shopper(
            session,
            ret,
            order,  # type: ignore[arg-type]
            "cancelled",
            signer,
            reason,
            extra=email_context(clawback),
        )
        await session.commit()
        return ret
    except TransitionError as exc:
        await session.rollback()
        raise ReturnError(str(exc), kind="conflict") from None
    except BaseException:
        await session.rollback()
        raise
