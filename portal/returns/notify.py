"""E-mails to the shopper at each step of a return, always through the outbox.

The context is plain JSON (it is stored on the outbox row) and carries a signed link to
the return's status page, so the shopper never has to look the order up again.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.jobs.outbox import enqueue
from portal.models.base import id_of
from portal.models.catalog import Variant
from portal.models.orders import Customer, Order, OrderLine
from portal.models.returns import Exchange, Return, ReturnLine, ReturnStatus
from portal.returns.links import LinkSigner
from portal.returns.settlement import Settlement, load_settlement
from portal.webhooks import emit_return_event, subscribed


class ShopperEmail(StrEnum):
    """The shopper e-mails; each has a ``templates/email/return_<name>.html``. Those named
    like a return status are sent when the return reaches it (the carrier jobs send
    ``in_transit`` and ``delivered``, the schedule ``expired`` and ``reminder``)."""

    CREATED = "created"
    APPROVED = ReturnStatus.APPROVED.value
    REJECTED = ReturnStatus.REJECTED.value
    CANCELLED = ReturnStatus.CANCELLED.value
    LABEL_READY = "label_ready"
    IN_TRANSIT = ReturnStatus.IN_TRANSIT.value
    DELIVERED = ReturnStatus.DELIVERED.value
    RECEIVED = ReturnStatus.RECEIVED.value
    INSPECTED = ReturnStatus.INSPECTED.value
    COMPLETED = ReturnStatus.COMPLETED.value
    EXPIRED = ReturnStatus.EXPIRED.value
    REMINDER = "reminder"
    REFUNDED = "refunded"
    REFUND_DECLINED = "refund_declined"


_LABELS = {"exchange": "Exchange", "store_credit": "Store credit", "refund": "Refund"}


async def email_items(session: AsyncSession, return_id: int) -> list[dict[str, Any]]:
    rows = (
        await session.exec(
            select(ReturnLine, OrderLine, Variant)
            .join(OrderLine, col(OrderLine.id) == ReturnLine.order_line_id)
            .join(Exchange, col(Exchange.return_line_id) == ReturnLine.id, isouter=True)
            .join(Variant, col(Variant.id) == Exchange.variant_id, isouter=True)
            .where(ReturnLine.return_id == return_id)
            .order_by(col(ReturnLine.id))
        )
    ).all()
    items = []
    for line, order_line, variant in rows:
        what = _LABELS.get(line.resolution, line.resolution)
        if variant is not None:
            what = f"Exchange for {variant.title or variant.sku}"
        items.append(
            {
                "title": order_line.title,
                "variant": order_line.variant_title,
                "quantity": line.quantity,
                "resolution": what,
                "keep_item": bool(line.decision.get("keep_item")),
            }
        )
    return items


def settlement_context(settlement: Settlement) -> dict[str, Any]:
    """What every shopper e-mail says about the money: the return's ``Settlement``
    (plain JSON, minor units)."""
    credit = settlement.credit
    return {
        "headline": settlement.headline,
        "details": list(settlement.details),
        "refund_total": settlement.refund_due,
        "refund_amount": settlement.refund_due,
        "refund_pending": settlement.refund_pending_approval,
        "refund_status": settlement.refund.state if settlement.refund is not None else "",
        "label_fee": settlement.label_fee,
        "store_credit_total": credit.due,
        "credit_amount": credit.due,
        "credit_code": (credit.code or "") if credit.issued else "",
        "credit_issued": credit.issued,
        "credit_reversed": credit.taken_back,
        "credit_uncollectable": credit.uncollectable,
        "completed": settlement.status == ReturnStatus.COMPLETED,
        "lines": [
            {
                "title": line.title,
                "accepted": line.counts or settlement.ending != "inspected",
                "received": line.units if line.counts else (line.received or 0),
                "requested": line.quantity,
                "refund": line.refund,
                "credit": line.credit,
                "exchange": {"released": "released", "shipped": "released"}.get(
                    line.state, "cancelled" if line.state == "cancelled" else ""
                )
                if line.resolution == "exchange"
                else "",
                "exchange_for": line.exchange_for,
                "reason": line.rejected_reason,
                "summary": line.summary,
            }
            for line in settlement.lines
        ],
    }


async def notify_shopper(
    session: AsyncSession,
    ret: Return,
    order: Order,
    event: ShopperEmail,
    signer: LinkSigner,
    reason: str = "",
    extra: dict[str, Any] | None = None,
) -> None:
    """Queue the ``return_<event>`` e-mail in the caller's transaction (once per return).

    Every amount and state in the context comes from the return's ``Settlement`` as it
    stands in this transaction (``settlement_context``): the refund and credit due, the
    credit's code once issued, what was taken back, each line's outcome and the headline
    the status page shows. ``extra`` adds event-specific values (a declined refund's
    ``shopper_message``).
    """
    event = ShopperEmail(event)  # a name with no template fails here, before anything is queued
    settlement = await load_settlement(session, id_of(ret), ret=ret)
    customer = await session.get(Customer, order.customer_id) if order.customer_id else None
    items = await email_items(session, id_of(ret))
    context = {
        "rma": ret.rma,
        "order_number": order.number,
        "name": (customer.name if customer and customer.name else "")
        or order.shipping_address.get("name", ""),
        "link": signer.path(id_of(order), ret.rma),
        "status": ret.status,
        "items": items,
        "currency": ret.currency,
        "require_review": ret.require_review,
        "ships_back": not settlement.keep_all,
        "ship_by": ret.ship_by.strftime("%B %-d, %Y") if ret.ship_by else "",
        "reason": reason,
        **settlement_context(settlement),
        **(extra or {}),
    }
    await enqueue(
        session,
        "send_email",
        {"template": f"return_{event}", "to": order.email, "context": context, "return_id": ret.id},
        key=f"email:return_{event}:{ret.rma}",
    )


async def tell_store(
    session: AsyncSession,
    event: str,
    ret: Return,
    order_number: str | None,
    *,
    extra: dict[str, Any] | None = None,
) -> None:
    """Queue the store webhook ``event`` for ``ret`` in the caller's transaction, with the
    return's ``settlement`` (the same figures the shopper and finance see)."""
    if not await subscribed(session, event):
        return
    settlement = await load_settlement(session, id_of(ret), ret=ret)
    await emit_return_event(
        session,
        event,
        ret,
        order_number,
        extra={"settlement": settlement.payload(), **(extra or {})},
    )
