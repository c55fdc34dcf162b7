"""Returnless returns: the shopper keeps every item (policy ``keep_item``), so the return is
settled the moment it is approved instead of after an inspection that will never happen.

In the approval's transaction (``approve_in_transaction``, automatic or by a reviewer), as
the inspection would for kept lines (they always pay in full, see ``receiving``):

* store credit: the sum of the lines' ``store_credit_amount`` on the ledger key
  ``return:<rma>``. Under ``issue: instant`` it was just issued at approval on that same
  key, so nothing more is issued; otherwise it is issued here, once;
* a refund of the sum of the lines' ``refund_amount`` (no label fee: no label is bought),
  auto-approved under the policy's threshold unless the return is under review, exactly
  as after an inspection; its payment completes the return (``money.payouts``);
* exchanges are released for shipping (the replacement goes out, the original stays);
* with nothing left to pay the return moves ``approved → completed`` at once.

No label or slip is queued and no parcel is expected; the expiry job leaves such a return
alone and the shopper can no longer cancel it once it is settled.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.audit import record
from portal.models.orders import Order
from portal.models.returns import Exchange, Return, ReturnLine
from portal.money.refunds import request_refund
from portal.returns.context import PolicyRef
from portal.returns.instant_credit import issue_return_credit, issued_code
from portal.returns.states import transition
from portal.webhooks import emit_return_event


@dataclass
class Settlement:
    """What settling a keep-every-item return did."""

    refund_amount: int = 0
    refund_id: int | None = None
    refund_status: str | None = None
    credit_amount: int = 0
    credit_code: str | None = None
    credit_issued_now: bool = False
    released_exchanges: list[int] = field(default_factory=list)
    completed: bool = False


async def settle_kept_return(
    session: AsyncSession, ret: Return, policy: PolicyRef, actor: str
) -> Settlement:
    """Pay out an approved return whose every line the shopper keeps (caller's
    transaction, no commit). Run once, right after ``requested → approved``."""
    from portal.returns.receiving import settle_exchange

    terms = policy.policy
    lines = (
        await session.exec(
            select(ReturnLine).where(ReturnLine.return_id == ret.id).order_by(ReturnLine.id)  # type: ignore[arg-type]
        )
    ).all()
    result = Settlement(
        refund_amount=sum(line.refund_amount for line in lines),
        credit_amount=sum(line.store_credit_amount for line in lines),
    )

    if result.credit_amount > 0:
        code, _ = await issued_code(session, ret)
        if code is None:
            code = await issue_return_credit(
                session,
                ret,
                result.credit_amount,
                expires_days=terms.store_credit.expires_days,
                actor=actor,
                reason="Issued at approval: the shopper keeps every item.",
            )
            result.credit_issued_now = True
        result.credit_code = code.code

    exchanges = (
        await session.exec(
            select(Exchange).where(
                Exchange.return_line_id.in_([line.id for line in lines]),  # type: ignore[attr-defined]
                Exchange.status == "reserved",
            )
        )
    ).all()
    by_line = {line.id: line for line in lines}
    for exchange in exchanges:
        quantity = by_line[exchange.return_line_id].quantity
        if await settle_exchange(session, exchange, True, quantity) == "released":
            result.released_exchanges.append(exchange.return_line_id)

    if result.refund_amount > 0:
        threshold = terms.approval.auto_approve_refunds_below
        auto = not ret.require_review and threshold is not None and result.refund_amount < threshold
        refund = await request_refund(
            session,
            ret,
            result.refund_amount,
            actor=actor,
            auto_approve=auto,
            due_days=terms.timelines.refund_within_days_of_receipt,
        )
        if refund is not None:
            result.refund_id, result.refund_status = refund.id, refund.status

    summary = {
        "refund": result.refund_amount,
        "refund_status": result.refund_status,
        "store_credit": result.credit_amount,
        "released_exchanges": result.released_exchanges,
    }
    await record(
        session,
        actor,
        "return",
        ret.id,
        "settled_without_return",
        reason="The shopper keeps every item: settled at approval, no parcel expected.",
        data=summary,
    )
    if result.released_exchanges:
        order = await session.get(Order, ret.order_id)
        await emit_return_event(
            session,
            "exchange.released",
            ret,
            order.number if order else None,
            extra={"return_line_ids": result.released_exchanges},
        )
    if result.refund_id is None:
        await transition(
            session,
            ret,
            "completed",
            actor,
            "The shopper keeps every item; nothing left to pay.",
            data=summary,
        )
        result.completed = True
    return result
