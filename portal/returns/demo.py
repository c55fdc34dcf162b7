"""Past returns for the demo store, made through the same domain functions shoppers use.

Deterministic: the same orders, items, reasons and choices on every run (only the RMA
numbers are random, as they must be). Lines that need a photo are skipped.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.models.base import id_of
from portal.models.orders import Order
from portal.models.returns import Return, ReturnStatus
from portal.returns.context import exchange_options, line_outlooks, load_order_context
from portal.returns.create import Choice, ItemRequest, ReturnError, confirm_return
from portal.returns.lifecycle import cancel_return, reject_return
from portal.returns.links import LinkSigner

_PREFERENCE = ("exchange", "store_credit", "refund")


async def seed_demo_returns(
    session: AsyncSession, signer: LinkSigner, now: datetime, count: int = 12
) -> int:
    """Create up to ``count`` returns once; a database that has returns is left alone."""
    if (await session.exec(select(Return.id).limit(1))).first() is not None:
        return 0
    rows = await session.exec(
        select(Order.id).where(col(Order.delivered_at).is_not(None)).order_by(Order.number)
    )
    order_ids = [order_id for order_id in rows if order_id is not None]  # (primary keys)
    made: list[tuple[int, str]] = []  # ids, not objects: a refused attempt expires objects
    for index, order_id in enumerate(order_ids):
        if len(made) >= count:
            break
        ret = await _one(session, signer, order_id, index, now)
        if ret is not None:
            made.append((id_of(ret), ret.status))
    for position, (return_id, status) in enumerate(made):
        if position % 5 == 3:
            await cancel_return(
                session, return_id, "demo shopper", signer, "Ordered the wrong colour"
            )
        elif status == ReturnStatus.REQUESTED and position % 2 == 0:
            await reject_return(
                session, return_id, "merchant@demo.example", signer, "Item shows wear"
            )
    return len(made)


async def _one(
    session: AsyncSession, signer: LinkSigner, order_id: int, index: int, now: datetime
) -> Return | None:
    ctx = await load_order_context(session, order_id)
    if ctx is None or ctx.policy is None:
        return None
    outlook = next(
        (
            o
            for o in line_outlooks(ctx, now)
            if o.can_return and set(o.eligible_reasons) - set(o.photo_reasons)
        ),
        None,
    )
    if outlook is None:
        return None
    reasons = [r for r in outlook.eligible_reasons if r not in outlook.photo_reasons]
    line_id, number = id_of(outlook.line), ctx.order.number
    item = ItemRequest(line_id, 1, reasons[index % len(reasons)])
    options = (await exchange_options(session, [(outlook.line, 1)])).get(line_id, [])
    # Plain values only: a refused attempt rolls the session back and expires its objects.
    variant_id = options[0].variant.id if options else None
    preference = _PREFERENCE[index % 3 :] + _PREFERENCE[: index % 3]
    for resolution in preference:
        choice = Choice(resolution, variant_id)
        try:
            done = await confirm_return(
                session,
                order_id=order_id,
                items=[item],
                choices={line_id: choice},
                submission_key=f"demo-{number}",
                signer=signer,
                actor="demo shopper",
                as_of=now,
            )
        except ReturnError:
            continue
        return done.ret
    return None
