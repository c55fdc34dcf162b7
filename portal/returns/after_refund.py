"""What a decided refund means for its return: complete it when nothing is left to pay,
and tell the shopper. Registered with money as the settled-refund hook at composition
(``portal.composition``), so money does not import this package."""

from __future__ import annotations

import logging

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.models.base import id_of
from portal.models.money import REFUND_IN_FLIGHT, Refund, RefundStatus
from portal.models.orders import Order
from portal.models.returns import Return, ReturnStatus
from portal.returns import states
from portal.returns.links import LinkSigner
from portal.returns.notify import ShopperEmail, notify_shopper
from portal.returns.states import TransitionError, keeps_everything

logger = logging.getLogger("portal.returns")


async def complete_if_settled(
    session: AsyncSession, ret: Return, refund: Refund, actor: str, reason: str
) -> bool:
    """Complete ``ret`` once ``refund`` is decided (paid or declined) and no other refund is
    left in flight: an inspected return, or an approved one whose every item the shopper
    keeps (settled at approval, no inspection). False when the return stays open."""
    waiting = (
        await session.exec(
            select(Refund.id).where(
                Refund.return_id == ret.id,
                Refund.id != refund.id,
                col(Refund.status).in_(REFUND_IN_FLIGHT),
            )
        )
    ).first()
    if waiting is not None or not (
        ret.status == ReturnStatus.INSPECTED
        or (ret.status == ReturnStatus.APPROVED and await keeps_everything(session, id_of(ret)))
    ):
        return False
    try:
        await states.complete(session, ret, actor, reason, data={"refund_id": refund.id})
    except TransitionError:  # the return moved on meanwhile; the refund's outcome stands
        logger.info("return not completed after refund", extra={"fields": {"rma": ret.rma}})
        return False
    return True


class SettleReturn:
    """The settled-refund hook: a paid refund tells the shopper and completes the return
    when nothing else is left to pay; a declined one closes it the same way and tells the
    shopper finance's message (never the internal reason)."""

    def __init__(self, signer: LinkSigner) -> None:
        self.signer = signer

    async def __call__(
        self, session: AsyncSession, refund: Refund, *, actor: str, shopper_message: str
    ) -> None:
        ret = await session.get(Return, refund.return_id)
        if ret is None:
            return
        order = await session.get(Order, ret.order_id)
        if refund.status == RefundStatus.SUCCEEDED:
            if order is not None:
                await notify_shopper(session, ret, order, ShopperEmail.REFUNDED, self.signer)
            completed = await complete_if_settled(session, ret, refund, actor, "Refund paid")
            if completed and order is not None:
                await notify_shopper(session, ret, order, ShopperEmail.COMPLETED, self.signer)
        elif refund.status == RefundStatus.REJECTED:
            await complete_if_settled(session, ret, refund, actor, "Refund declined by finance")
            if order is not None:
                await notify_shopper(
                    session,
                    ret,
                    order,
                    ShopperEmail.REFUND_DECLINED,
                    self.signer,
                    extra={
                        "shopper_message": shopper_message,
                        "declined_amount": refund.amount,
                        "completed": ret.status == ReturnStatus.COMPLETED,
                    },
                )
