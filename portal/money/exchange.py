"""The price difference of exchanges.

``Exchange.price_difference`` is positive when the new variant costs more (the shopper
owes us) and negative when it costs less (we owe the shopper). What we do:

* owed by the shopper: in the embedded default finance records the payment taken outside
  (``record_exchange_payment``, with a reference, audited); a Stripe Checkout link is the
  production path and is not built yet;
* owed to the shopper: the policy's choice (``"refund"`` or ``"store_credit"``) — a refund
  with purpose ``exchange_difference`` (through approvals like any refund) or store credit
  issued on a key per return, so settling twice changes nothing.
"""

from __future__ import annotations

from typing import Literal

import sqlalchemy as sa
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.audit import record
from portal.models.orders import Order
from portal.models.returns import Exchange, Return, ReturnLine
from portal.money.credit import issue_credit
from portal.money.refunds import request_refund


async def exchange_difference(session: AsyncSession, return_id: int) -> int:
    """Positive: the shopper owes us; negative: we owe the shopper."""
    total = (
        await session.exec(  # type: ignore[call-overload]
            sa.select(sa.func.coalesce(sa.func.sum(Exchange.price_difference), 0))
            .join(ReturnLine, ReturnLine.id == Exchange.return_line_id)
            .where(ReturnLine.return_id == return_id, Exchange.status != "cancelled")
        )
    ).scalar_one()
    return int(total)


async def settle_difference_owed_to_shopper(
    session: AsyncSession,
    ret: Return,
    *,
    how: Literal["refund", "store_credit"],
    actor: str,
    auto_approve: bool,
    due_days: int,
) -> object | None:
    """Pay back a negative difference per the policy (caller's transaction)."""
    difference = await exchange_difference(session, ret.id)  # type: ignore[arg-type]
    if difference >= 0:
        return None
    if how == "refund":
        return await request_refund(
            session,
            ret,
            -difference,
            actor=actor,
            auto_approve=auto_approve,
            due_days=due_days,
            purpose="exchange_difference",
        )
    order = await session.get(Order, ret.order_id)
    return await issue_credit(
        session,
        currency=ret.currency,
        amount=-difference,
        customer_id=order.customer_id if order else None,
        return_id=ret.id,
        actor=actor,
        key=f"exchange-difference:{ret.rma}",
    )


async def record_exchange_payment(
    session: AsyncSession, exchange_id: int, reference: str, actor: str
) -> Exchange:
    """Finance records that the shopper paid the difference outside (manual default)."""
    reference = reference.strip()
    if not reference:
        raise ValueError("Enter the payment reference.")
    exchange = (
        await session.exec(select(Exchange).where(Exchange.id == exchange_id).with_for_update())
    ).first()
    if exchange is None:
        raise LookupError(f"There is no exchange {exchange_id}.")
    if exchange.price_difference <= 0:
        raise ValueError("Nothing is owed on this exchange.")
    if exchange.payment_reference:
        raise ValueError(f"The payment was already recorded ({exchange.payment_reference}).")
    exchange.payment_reference = reference[:255]
    session.add(exchange)
    await record(
        session,
        actor,
        "exchange",
        exchange.id,
        "difference_paid",
        data={"amount": exchange.price_difference, "reference": reference},
    )
    await session.commit()
    return exchange
