"""E-mails to the shopper at each step of a return, always through the outbox.

The context is plain JSON (it is stored on the outbox row) and carries a signed link to
the return's status page, so the shopper never has to look the order up again.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.jobs.outbox import enqueue
from portal.models.catalog import Variant
from portal.models.orders import Customer, Order, OrderLine
from portal.models.returns import Exchange, Return, ReturnLine
from portal.returns.instant_credit import issued_code
from portal.returns.links import LinkSigner

EVENTS = (
    "created",
    "approved",
    "rejected",
    "cancelled",
    "label_ready",
    "in_transit",
    "delivered",
    "received",
    "completed",
    "expired",
    "reminder",
    "refunded",
    "refund_declined",
)
"""Each has a ``templates/email/return_<event>.html``. Besides the ones sent from here,
``label_ready``, ``in_transit`` and ``delivered`` are for the carrier jobs, ``received``
and ``completed`` for the warehouse and resolution work, ``expired`` for the schedule."""
_LABELS = {"exchange": "Exchange", "store_credit": "Store credit", "refund": "Refund"}


async def email_items(session: AsyncSession, return_id: int) -> list[dict[str, Any]]:
    rows = (
        await session.exec(
            select(ReturnLine, OrderLine, Variant)
            .join(OrderLine, OrderLine.id == ReturnLine.order_line_id)  # type: ignore[arg-type]
            .join(Exchange, Exchange.return_line_id == ReturnLine.id, isouter=True)  # type: ignore[arg-type]
            .join(Variant, Variant.id == Exchange.variant_id, isouter=True)  # type: ignore[arg-type]
            .where(ReturnLine.return_id == return_id)
            .order_by(ReturnLine.id)  # type: ignore[arg-type]
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


async def notify_shopper(
    session: AsyncSession,
    ret: Return,
    order: Order,
    event: str,
    signer: LinkSigner,
    reason: str = "",
    extra: dict[str, Any] | None = None,
) -> None:
    """Queue the ``return_<event>`` e-mail in the caller's transaction (once per return).

    When store credit was already issued for the return (policy ``issue: instant``) the
    context carries its code (``credit_code``) and amount (``credit_issued``); ``extra``
    adds event-specific values (``credit_reversed`` and ``credit_uncollectable`` when a
    cancelled or expired return's credit is taken back).
    """
    if event not in EVENTS:
        raise ValueError(f"unknown return e-mail {event!r}")
    credit_code, credit_issued = "", 0
    if ret.store_credit_total > 0:
        code, credit_issued = await issued_code(session, ret)
        credit_code = code.code if code is not None else ""
    customer = await session.get(Customer, order.customer_id) if order.customer_id else None
    items = await email_items(session, ret.id)  # type: ignore[arg-type]
    context = {
        "rma": ret.rma,
        "order_number": order.number,
        "name": (customer.name if customer and customer.name else "")
        or order.shipping_address.get("name", ""),
        "link": signer.path(order.id, ret.rma),  # type: ignore[arg-type]
        "status": ret.status,
        "items": items,
        "currency": ret.currency,
        "refund_total": ret.refund_total,
        "store_credit_total": ret.store_credit_total,
        "label_fee": ret.label_fee,
        "require_review": ret.require_review,
        "ships_back": not all(item["keep_item"] for item in items),
        "ship_by": ret.ship_by.strftime("%B %-d, %Y") if ret.ship_by else "",
        "reason": reason,
        "credit_code": credit_code,
        "credit_issued": credit_issued,
        **(extra or {}),
    }
    await enqueue(
        session,
        "send_email",
        {"template": f"return_{event}", "to": order.email, "context": context, "return_id": ret.id},
        key=f"email:return_{event}:{ret.rma}",
    )
