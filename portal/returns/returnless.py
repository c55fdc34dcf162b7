"""Returnless returns: the shopper keeps every item (policy ``keep_item``), so the return is
settled the moment it is approved instead of after an inspection that will never happen.

In the approval's transaction (``approve_in_transaction``, automatic or by a reviewer), as
the inspection would for kept lines (they always pay in full, see ``receiving``):

The money is the plan of the ``kept`` ending (``portal.returns.settlement.plan``),
carried out by ``portal.returns.resolution.carry_out`` like an inspection's:

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

from sqlmodel.ext.asyncio.session import AsyncSession

from portal.audit import record
from portal.models.orders import Order
from portal.models.returns import Return
from portal.returns import states
from portal.returns.context import PolicyRef
from portal.returns.resolution import Carried, carry_out, plan_for


async def settle_kept_return(
    session: AsyncSession, ret: Return, policy: PolicyRef, actor: str
) -> Carried:
    """Pay out an approved return whose every line the shopper keeps (caller's
    transaction, no commit). Run once, right after ``requested → approved``: the plan of
    the ``kept`` ending (``portal.returns.settlement.plan``), carried out as an inspection's
    is."""
    the_plan = await plan_for(session, ret, "kept")
    order = await session.get(Order, ret.order_id)
    done = await carry_out(
        session,
        ret,
        the_plan,
        policy=policy.policy,
        actor=actor,
        step="kept",
        reason="Issued at approval: the shopper keeps every item.",
        order_number=order.number if order else None,
    )
    summary = {
        **the_plan.summary(),
        "refund_status": done.refund.status if done.refund is not None else None,
        "released_exchanges": done.released,
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
    if done.refund is None:
        await states.complete(
            session,
            ret,
            actor,
            "The shopper keeps every item; nothing left to pay.",
            data=summary,
        )
    return done
