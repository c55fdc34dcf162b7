"""Store credit issued at approval (policy ``store_credit: {issue: instant}``), and taking
it back when less turns out to be due. The amounts are ``portal.returns.settlement.plan``'s;
issuing and taking back are done by ``portal.returns.resolution``; here is the ledger key.

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

from sqlmodel.ext.asyncio.session import AsyncSession

from portal.models.money import StoreCreditCode
from portal.models.returns import Return
from portal.money.credit import issued_for


def credit_key(ret: Return) -> str:
    """The ledger key of the credit a return earns, wherever it is issued."""
    return f"return:{ret.rma}"


async def issued_code(session: AsyncSession, ret: Return) -> tuple[StoreCreditCode | None, int]:
    """The code issued for this return, if any, and what it was issued with."""
    return await issued_for(session, credit_key(ret))
