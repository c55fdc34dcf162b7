"""Carrying out a return's ``Plan`` (``portal.returns.settlement.plan``): the one code path
by which inspection, keep-every-item settlement, cancellation, rejection and expiry move
money and stock, in the caller's transaction (nothing here commits).

* exchanges: a released one keeps the units that count and frees the rest of its
  reserved stock; a cancelled one frees all of it (``portal.returns.exchange_states``);
* store credit: issued once on the ledger key ``return:<rma>`` (the bonus as its own
  ``bonus`` entry, so the ledger and the ``store_credit.issued`` webhook say what the
  shopper was told), or, when it was issued at approval, what is no longer due is taken
  back as far as it is unspent (``portal.money.credit.claw_back``; the spent part is
  recorded as uncollectable);
* the refund is requested, auto-approved under the policy's threshold unless the return
  is under review (``portal.money.refunds.request_refund``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.audit import record
from portal.models.base import id_of
from portal.models.catalog import Variant
from portal.models.money import Refund, StoreCreditCode
from portal.models.orders import Order
from portal.models.returns import Exchange, ExchangeStatus, Return
from portal.money.credit import Clawback, claw_back, issue_credit
from portal.money.refunds import request_refund
from portal.returns import exchange_states
from portal.returns.instant_credit import credit_key, issued_code
from portal.returns.notify import tell_store
from portal.returns.settlement import Ending, LineIn, Plan, line_inputs, plan

__all__ = [
    "Carried",
    "carry_out",
    "issue_credit_for",
    "issue_on_approval",
    "lines_of",
    "plan_for",
]


@dataclass
class Carried:
    """What carrying out a plan did."""

    plan: Plan
    released: list[int] = field(default_factory=list)
    """Return line ids whose exchange was released for shipping."""
    cancelled_exchanges: list[int] = field(default_factory=list)
    """Exchange ids cancelled (their stock freed)."""
    code: StoreCreditCode | None = None
    credit_issued_now: int = 0
    clawback: Clawback | None = None
    refund: Refund | None = None


async def lines_of(session: AsyncSession, ret: Return) -> list[LineIn]:
    assert ret.id is not None
    return (await line_inputs(session, [ret.id]))[ret.id]


async def plan_for(
    session: AsyncSession, ret: Return, ending: Ending, lines: list[LineIn] | None = None
) -> Plan:
    """The plan for ending ``ret`` now, against the credit already issued for it."""
    if lines is None:
        lines = await lines_of(session, ret)
    _, issued = await issued_code(session, ret)
    return plan(lines, label_fee=ret.label_fee, ending=ending, credit_issued=issued)


async def issue_credit_for(
    session: AsyncSession,
    ret: Return,
    amount: int,
    bonus: int,
    *,
    actor: str,
    expires_days: int | None,
    reason: str,
    when: str,
    now: datetime | None = None,
) -> StoreCreditCode:
    """Issue ``amount`` of the return's credit (``bonus`` of it the bonus) on its ledger key,
    once, with the audit event saying why."""
    bonus = bonus if 0 <= bonus < amount else 0
    order = await session.get(Order, ret.order_id)
    code = await issue_credit(
        session,
        currency=ret.currency,
        amount=amount - bonus,
        bonus=bonus,
        customer_id=order.customer_id if order else None,
        return_id=ret.id,
        actor=actor,
        expires_days=expires_days,
        now=now,
        key=credit_key(ret),
    )
    await record(
        session,
        actor,
        "return",
        ret.id,
        "store_credit_issued",
        reason=reason,
        data={"code_id": code.id, "amount": amount, "bonus": bonus, "when": when},
    )
    return code


async def issue_on_approval(
    session: AsyncSession, ret: Return, policy: Any, actor: str
) -> StoreCreditCode | None:
    """Issue the return's whole store credit (bonus included, as the shopper was told) at
    approval when its policy says ``store_credit: {issue: instant}``, in the caller's
    transaction; None when the policy waits for the parcel or there is no credit.
    ``policy`` is the ``PolicyRef``."""
    terms = policy.policy.store_credit
    if terms.issue != "instant" or ret.store_credit_total <= 0:
        return None
    promise = plan(await lines_of(session, ret), label_fee=ret.label_fee, ending="open")
    if promise.credit <= 0:
        return None
    return await issue_credit_for(
        session,
        ret,
        promise.credit,
        promise.bonus,
        actor=actor,
        expires_days=terms.expires_days,
        reason="Issued at approval: the policy issues store credit instantly.",
        when="approval",
    )


async def _free(session: AsyncSession, exchange: Exchange, units: int) -> None:
    if units > 0:
        await session.exec(
            sa.update(Variant)
            .where(col(Variant.id) == exchange.variant_id, col(Variant.stock_reserved) >= units)
            .values(stock_reserved=col(Variant.stock_reserved) - units)
            .execution_options(synchronize_session=False)
        )


async def carry_out(
    session: AsyncSession,
    ret: Return,
    the_plan: Plan,
    *,
    policy: Any,
    actor: str,
    step: str,
    reason: str,
    order_number: str | None = None,
    now: datetime | None = None,
) -> Carried:
    """Do what ``the_plan`` says, in the caller's transaction. ``policy`` is the return's
    compiled policy (``PolicyRef.policy``) or None when it asks for nothing policy-bound
    (cancel, reject, expire); ``step`` names the occasion on the ledger
    (``inspection``, ``kept``, ``cancelled``, ``rejected``, ``expired``), so a retried
    step never takes credit back twice."""
    done = Carried(the_plan)
    by_line = {p.line_id: p for p in the_plan.lines if p.exchange is not None}
    if by_line:
        exchanges = (
            await session.exec(
                select(Exchange)
                .where(
                    col(Exchange.return_line_id).in_(list(by_line)),
                    Exchange.status == ExchangeStatus.RESERVED,
                )
                .order_by(col(Exchange.id))
            )
        ).all()
        for exchange in exchanges:
            line_plan = by_line[exchange.return_line_id]
            if line_plan.exchange == "release" and line_plan.exchange_units > 0:
                await _free(session, exchange, exchange.quantity - line_plan.exchange_units)
                await exchange_states.release(
                    session, exchange, actor, quantity=line_plan.exchange_units, reason=reason
                )
                done.released.append(exchange.return_line_id)
            else:
                await _free(session, exchange, exchange.quantity)
                why = line_plan.reason or reason
                await exchange_states.cancel(session, exchange, actor, reason=why)
                done.cancelled_exchanges.append(id_of(exchange))

    if the_plan.take_back > 0:
        done.clawback = await claw_back(
            session,
            credit_key(ret),
            the_plan.take_back,
            step=step,
            actor=actor,
            reason=reason,
            return_id=ret.id,
        )
    elif the_plan.issue_credit > 0 and policy is not None:
        done.code = await issue_credit_for(
            session,
            ret,
            the_plan.issue_credit,
            the_plan.bonus,
            actor=actor,
            expires_days=policy.store_credit.expires_days,
            reason=reason,
            when=step,
            now=now,
        )
        done.credit_issued_now = the_plan.issue_credit

    if the_plan.refund > 0 and policy is not None and the_plan.ending in ("inspected", "kept"):
        threshold = policy.approval.auto_approve_refunds_below
        auto = not ret.require_review and threshold is not None and the_plan.refund < threshold
        done.refund = await request_refund(
            session,
            ret,
            the_plan.refund,
            actor=actor,
            auto_approve=auto,
            due_days=policy.timelines.refund_within_days_of_receipt,
            now=now,
        )

    if done.released:
        await tell_store(
            session,
            "exchange.released",
            ret,
            order_number,
            extra={"return_line_ids": done.released, "plan": the_plan.summary()},
        )
    return done
