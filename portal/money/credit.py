"""The store-credit ledger: a balance is always a sum of entries, never a stored number.

Codes are long and random (hard to guess); entries are append-only (issue and bonus add;
redeem, expire and reverse subtract), and each carries an idempotency key where a retry
could otherwise write it twice.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.audit import record
from portal.models.money import StoreCreditCode, StoreCreditEntry

# No 0/O, 1/I/L: codes are read aloud and typed at a till.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


def new_code() -> str:
    """16 symbols from a 31-letter alphabet (~79 bits), shown as XXXX-XXXX-XXXX-XXXX."""
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(16))
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


async def balance(session: AsyncSession, code_id: int) -> int:
    total = (
        await session.exec(  # type: ignore[call-overload]
            sa.select(sa.func.coalesce(sa.func.sum(StoreCreditEntry.amount), 0)).where(
                StoreCreditEntry.code_id == code_id
            )
        )
    ).scalar_one()
    return int(total)


async def issue_credit(
    session: AsyncSession,
    *,
    currency: str,
    amount: int,
    bonus: int = 0,
    customer_id: int | None,
    return_id: int | None,
    actor: str,
    expires_days: int | None = None,
    now: datetime | None = None,
    key: str,
) -> StoreCreditCode:
    """Issue ``amount`` (+ ``bonus``) on a new code, in the caller's transaction.

    ``key`` names this issuance (``"return:<rma>"``): issuing again with the same key
    returns the code issued the first time and writes nothing.
    """
    if amount <= 0 or bonus < 0:
        raise ValueError("store credit must be a positive amount with a non-negative bonus")
    existing = (
        await session.exec(
            select(StoreCreditEntry).where(StoreCreditEntry.idempotency_key == f"{key}:issue")
        )
    ).first()
    if existing is not None:
        return await session.get(StoreCreditCode, existing.code_id)  # type: ignore[return-value]
    from portal.models.base import utcnow

    moment = now or utcnow()
    code = StoreCreditCode(
        code=new_code(),
        customer_id=customer_id,
        currency=currency,
        expires_at=moment + timedelta(days=expires_days) if expires_days else None,
    )
    session.add(code)
    await session.flush()
    session.add(
        StoreCreditEntry(
            code_id=code.id,
            kind="issue",
            amount=amount,
            return_id=return_id,
            idempotency_key=f"{key}:issue",
            created_by=actor,
            note="Issued for a return" if return_id else "",
        )
    )
    if bonus:
        session.add(
            StoreCreditEntry(
                code_id=code.id,
                kind="bonus",
                amount=bonus,
                return_id=return_id,
                idempotency_key=f"{key}:bonus",
                created_by=actor,
                note="Bonus for choosing store credit",
            )
        )
    await session.flush()
    await record(
        session,
        actor,
        "store_credit_code",
        code.id,
        "issued",
        data={"amount": amount, "bonus": bonus, "return_id": return_id},
    )
    return code
