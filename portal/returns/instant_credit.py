"""Store credit issued at approval (policy ``store_credit: {issue: instant}``), and taking
it back when less turns out to be due.

The shopper gets the return's whole ``store_credit_total`` on a code the moment the return
is approved (automatically at creation or by a reviewer), in the approval's transaction and
under the same ledger key as credit issued after inspection (``return:<rma>``), so the
inspection never issues it a second time. What is no longer due is withdrawn later:

* at inspection, everything above what the accepted items earn (pro rata to what arrived);
* when the return is cancelled, all of it;
* when it expires because the parcel never shipped, all but the share of the items the
  shopper was allowed to keep (those never had to come back).

Only what is still unspent on the code is reversed (a ``reverse`` ledger entry; a balance
never goes below zero). What the shopper already spent is recorded as uncollectable: an
audit event on the return (``store_credit_uncollectable``, with the amount) that finance
sees in the return's trail.
"""

from __future__ import annotations

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.audit import record
from portal.models.money import StoreCreditCode
from portal.models.orders import Order
from portal.models.returns import Return, ReturnLine
from portal.money.credit import Clawback, claw_back, issue_credit, issued_for
from portal.returns.context import PolicyRef


def credit_key(ret: Return) -> str:
    """The ledger key of the credit a return earns, wherever it is issued."""
    return f"return:{ret.rma}"


async def issue_on_approval(
    session: AsyncSession, ret: Return, policy: PolicyRef, actor: str
) -> StoreCreditCode | None:
    """Issue the return's store credit now when its policy says ``issue: instant``
    (in the caller's transaction); ``None`` when the policy waits for the parcel or the
    return carries no store credit."""
    terms = policy.policy.store_credit
    if terms.issue != "instant" or ret.store_credit_total <= 0:
        return None
    return await issue_return_credit(
        session,
        ret,
        ret.store_credit_total,
        expires_days=terms.expires_days,
        actor=actor,
        reason="Issued at approval: the policy issues store credit instantly.",
    )


async def issue_return_credit(
    session: AsyncSession,
    ret: Return,
    amount: int,
    *,
    expires_days: int | None,
    actor: str,
    reason: str,
) -> StoreCreditCode:
    """Issue ``amount`` of the return's credit at approval on its ledger key, with the
    audit event saying why (caller's transaction)."""
    order = await session.get(Order, ret.order_id)
    code = await issue_credit(
        session,
        currency=ret.currency,
        amount=amount,
        customer_id=order.customer_id if order else None,
        return_id=ret.id,
        actor=actor,
        expires_days=expires_days,
        key=credit_key(ret),
    )
    await record(
        session,
        actor,
        "return",
        ret.id,
        "store_credit_issued",
        reason=reason,
        data={"code_id": code.id, "amount": amount, "when": "approval"},
    )
    return code


async def issued_code(session: AsyncSession, ret: Return) -> tuple[StoreCreditCode | None, int]:
    """The code issued for this return, if any, and what it was issued with."""
    return await issued_for(session, credit_key(ret))


async def withdraw(
    session: AsyncSession,
    ret: Return,
    *,
    still_due: int,
    step: str,
    actor: str,
    reason: str,
) -> Clawback | None:
    """Take back what was issued for ``ret`` above ``still_due`` (unspent part only);
    ``None`` when nothing was issued or nothing is to be taken back."""
    code, issued = await issued_code(session, ret)
    if code is None or issued <= still_due:
        return None
    return await claw_back(
        session,
        credit_key(ret),
        issued - max(0, still_due),
        step=step,
        actor=actor,
        reason=reason,
        return_id=ret.id,
    )


async def kept_items_credit(session: AsyncSession, ret: Return) -> int:
    """The store credit of the lines the shopper keeps (they never have to come back)."""
    rows = (
        await session.exec(
            select(ReturnLine.store_credit_amount, ReturnLine.decision).where(
                ReturnLine.return_id == ret.id
            )
        )
    ).all()
    return sum(amount for amount, decision in rows if decision.get("keep_item"))


def email_context(clawback: Clawback | None) -> dict[str, int]:
    """What the shopper's e-mail says about credit taken back."""
    if clawback is None:
        return {"credit_reversed": 0, "credit_uncollectable": 0}
    return {
        "credit_reversed": clawback.reversed,
        "credit_uncollectable": clawback.uncollectable,
    }
