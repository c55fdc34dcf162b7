"""The exchange state machine (``ExchangeStatus``, ``EXCHANGE_TRANSITIONS`` in
``portal.models.returns``): a replacement held from stock while the original comes back.

``reserved → released → shipped``, or ``reserved → cancelled``. Each named move is a
compare-and-set on the exchange's status and writes an ``exchange`` audit event, in the
caller's transaction. Stock is the caller's business (``stock_reserved`` is freed where
the reservation ends: ``portal.returns.lifecycle.release_reservations``,
``portal.returns.receiving.settle_exchange``).
"""

from __future__ import annotations

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from portal.models.base import utcnow
from portal.models.returns import EXCHANGE_TRANSITIONS, Exchange, ExchangeStatus
from portal.states import Machine

EXCHANGES = Machine(ExchangeStatus, EXCHANGE_TRANSITIONS, Exchange, "status", "exchange")


async def release(
    session: AsyncSession,
    exchange: Exchange,
    actor: str,
    *,
    quantity: int | None = None,
    reason: str = "",
    data: dict[str, Any] | None = None,
) -> None:
    """reserved → released: the replacement goes to the shopper (``quantity`` of it, when
    fewer units came back than were asked for)."""
    values: dict[str, Any] = {"updated_at": utcnow()}
    if quantity is not None:
        values["quantity"] = quantity
    await EXCHANGES.move(
        session,
        exchange,
        ExchangeStatus.RELEASED,
        actor=actor,
        reason=reason,
        data={"quantity": quantity or exchange.quantity, **(data or {})},
        values=values,
    )


async def ship(session: AsyncSession, exchange: Exchange, actor: str, *, reason: str = "") -> None:
    """released → shipped: the store sent the replacement."""
    await EXCHANGES.move(
        session,
        exchange,
        ExchangeStatus.SHIPPED,
        actor=actor,
        reason=reason,
        values={"updated_at": utcnow()},
    )


async def cancel(
    session: AsyncSession,
    exchange: Exchange,
    actor: str,
    *,
    reason: str = "",
    data: dict[str, Any] | None = None,
) -> None:
    """reserved → cancelled: nothing goes out (the return was called off, or the item was
    rejected or never arrived)."""
    await EXCHANGES.move(
        session,
        exchange,
        ExchangeStatus.CANCELLED,
        actor=actor,
        reason=reason,
        data=data,
        values={"updated_at": utcnow()},
    )
