"""Staff review (approve or reject) and shopper cancellation of a return.

Each function locks the return, moves it with ``transition`` (which writes the audit
event), releases exchange stock when the return is called off, queues its side effects in
the outbox, and commits. A move that is no longer possible raises ``ReturnError``.
Approval issues store credit when the policy issues it instantly; calling a return off
(``call_off``: rejected, cancelled, expired) carries out the settlement plan of that
ending: exchanges cancelled, unspent instant credit taken back
(``portal.returns.settlement``, ``portal.returns.resolution``).
"""

from __future__ import annotations

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.jobs.outbox import enqueue
from portal.models.orders import Order
from portal.models.returns import (
    RETURN_CANCELLABLE,
    LabelState,
    Return,
    ReturnStatus,
)
from portal.returns import states
from portal.returns.context import policy_ref
from portal.returns.create import ReturnError, approve_in_transaction
from portal.returns.links import LinkSigner
from portal.returns.notify import ShopperEmail, notify_shopper
from portal.returns.resolution import Carried, carry_out, plan_for
from portal.returns.settlement import Ending
from portal.returns.states import TransitionError, can_cancel


async def _locked(session: AsyncSession, return_id: int) -> Return:
    ret = (
        await session.exec(select(Return).where(Return.id == return_id).with_for_update())
    ).first()
    if ret is None:
        raise ReturnError("That return does not exist.", kind="not_found")
    return ret


async def call_off(
    session: AsyncSession, ret: Return, ending: Ending, actor: str, reason: str
) -> Carried:
    """The plan of a return called off (``cancelled``, ``rejected``, ``expired``), carried
    out: reserved exchanges cancelled and their stock freed, store credit issued at approval
    and no longer due taken back (as far as it is unspent). Before the status moves."""
    the_plan = await plan_for(session, ret, ending)
    return await carry_out(
        session, ret, the_plan, policy=None, actor=actor, step=ending, reason=reason
    )


async def approve_return(
    session: AsyncSession, return_id: int, actor: str, signer: LinkSigner, note: str = ""
) -> Return:
    """A reviewer lets a return go ahead: label and slip are queued, the shopper told."""
    try:
        ret = await _locked(session, return_id)
        if ret.status != ReturnStatus.REQUESTED:
            raise ReturnError(f"Return {ret.rma} is already {ret.status}.", kind="conflict")
        if ret.policy_version_id is None:
            raise ReturnError(f"Return {ret.rma} has no policy version.", kind="conflict")
        policy = await policy_ref(session, ret.policy_version_id)
        await approve_in_transaction(session, ret, policy, actor, note or "Approved on review.")
        order = await session.get_one(Order, ret.order_id)
        await notify_shopper(session, ret, order, ShopperEmail.APPROVED, signer)
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
        if ret.status != ReturnStatus.REQUESTED:
            raise ReturnError(f"Return {ret.rma} is already {ret.status}.", kind="conflict")
        done = await call_off(session, ret, "rejected", actor, "The return was rejected.")
        await states.reject(
            session, ret, actor, reason, data={"released_exchanges": done.cancelled_exchanges}
        )
        order = await session.get_one(Order, ret.order_id)
        await notify_shopper(session, ret, order, ShopperEmail.REJECTED, signer, reason)
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
        if ret.status in RETURN_CANCELLABLE and not await can_cancel(session, ret):
            raise ReturnError(
                f"Return {ret.rma} can no longer be cancelled: you keep the items and it "
                "was settled when it was approved.",
                kind="conflict",
            )
        if ret.status not in RETURN_CANCELLABLE:
            raise ReturnError(
                f"Return {ret.rma} can no longer be cancelled: it is {ret.status.replace('_', ' ')}.",
                kind="conflict",
            )
        had_label = ret.label_state == LabelState.READY or ret.shipment_id is not None
        done = await call_off(
            session,
            ret,
            "cancelled",
            actor,
            f"Return {ret.rma} was cancelled; its store credit is no longer due.",
        )
        await states.cancel(
            session,
            ret,
            actor,
            reason or "Cancelled by the shopper.",
            data={"released_exchanges": done.cancelled_exchanges, "void_label": had_label},
        )
        if had_label:
            await enqueue(session, "void_label", {"return_id": ret.id}, key=f"void_label:{ret.rma}")
        order = await session.get_one(Order, ret.order_id)
        await notify_shopper(session, ret, order, ShopperEmail.CANCELLED, signer, reason)
        await session.commit()
        return ret
    except TransitionError as exc:
        await session.rollback()
        raise ReturnError(str(exc), kind="conflict") from None
    except BaseException:
        await session.rollback()
        raise
