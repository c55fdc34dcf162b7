"""The store-credit ledger: a balance is always a sum of entries, never a stored number.

Codes are long and random (hard to guess); entries are append-only (issue and bonus add;
redeem, expire and reverse subtract), and each carries an idempotency key where a retry
could otherwise write it twice.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.audit import record
from portal.errors import Conflict, DomainError, NotFound
from portal.models.base import id_of, utcnow
from portal.models.money import StoreCreditCode, StoreCreditEntry
from portal.models.returns import Return
from portal.money.currency import format_money
from portal.webhooks import emit

# No 0/O, 1/I/L: codes are read aloud and typed at a till.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


def new_code() -> str:
    """16 symbols from a 31-letter alphabet (~79 bits), shown as XXXX-XXXX-XXXX-XXXX."""
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(16))
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


async def balance(session: AsyncSession, code_id: int) -> int:
    total = (
        await session.exec(
            select(sa.func.coalesce(sa.func.sum(StoreCreditEntry.amount), 0)).where(
                StoreCreditEntry.code_id == code_id
            )
        )
    ).one()
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
        return await session.get_one(StoreCreditCode, existing.code_id)
    moment = now or utcnow()
    code = StoreCreditCode(
        code=new_code(),
        customer_id=customer_id,
        currency=currency,
        expires_at=moment + timedelta(days=expires_days) if expires_days else None,
    )
    session.add(code)
    await session.flush()
    code_id = id_of(code)
    session.add(
        StoreCreditEntry(
            code_id=code_id,
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
                code_id=code_id,
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
    ret = await session.get(Return, return_id) if return_id else None
    # The store's own systems learn the code (it is theirs to honour at the till).
    await emit(
        session,
        "store_credit.issued",
        {
            "code": code.code,
            "amount": amount,
            "bonus": bonus,
            "total": amount + bonus,
            "currency": currency,
            "rma": ret.rma if ret else None,
            "expires_at": code.expires_at.isoformat() if code.expires_at else None,
        },
        key=f"store_credit.issued:{key}",
    )
    return code


class CreditError(DomainError):
    """A ledger operation that cannot be done (unknown code, not enough balance …)."""

    status_code = 422


class UnknownCode(CreditError, NotFound):
    status_code = 404


class InsufficientCredit(CreditError, Conflict):
    status_code = 409


class KeyReused(CreditError, Conflict):
    """The idempotency key was used before for a different operation."""

    status_code = 409


@dataclass(frozen=True)
class LedgerResult:
    code: str
    entry_id: int
    amount: int
    balance: int
    replayed: bool


async def lock_code(session: AsyncSession, code: str) -> StoreCreditCode:
    """The code's row under a lock, taken before the balance is read.

    PostgreSQL: ``SELECT … FOR UPDATE``. SQLite has no row locks but one writer at a time:
    a no-op update first takes the write lock, so the balance read next cannot go stale.
    """
    code = code.strip().upper()
    if session.bind is not None and session.bind.dialect.name == "sqlite":
        await session.exec(
            sa.update(StoreCreditCode)
            .where(col(StoreCreditCode.code) == code)
            .values(disabled=StoreCreditCode.disabled)
        )
    row = (
        await session.exec(
            select(StoreCreditCode)
            .where(StoreCreditCode.code == code)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).first()
    if row is None:
        raise UnknownCode("That store-credit code does not exist.")
    return row


async def _replay(
    session: AsyncSession, key: str, code: StoreCreditCode, kind: str, amount: int
) -> LedgerResult | None:
    entry = (
        await session.exec(select(StoreCreditEntry).where(StoreCreditEntry.idempotency_key == key))
    ).first()
    if entry is None:
        return None
    if entry.code_id != code.id or entry.kind != kind or entry.amount != -amount:
        raise KeyReused("This idempotency key was already used for a different request.")
    return LedgerResult(code.code, id_of(entry), amount, await balance(session, id_of(code)), True)


async def _debit(
    session: AsyncSession,
    code_text: str,
    amount: int,
    *,
    kind: str,
    key: str,
    actor: str,
    note: str,
    now: datetime | None = None,
) -> LedgerResult:
    """Take ``amount`` off a code, never below zero; commits. Same key → same answer."""
    if amount <= 0:
        raise CreditError("The amount must be a positive number of minor units.")
    if not key or len(key) > 100:
        raise CreditError("An idempotency key of 1 to 100 characters is required.")
    ledger_key = f"{kind}:{key}"
    try:
        code = await lock_code(session, code_text)
        replayed = await _replay(session, ledger_key, code, kind, amount)
        if replayed is not None:
            await session.rollback()
            return replayed
        if kind == "redeem":
            moment = now or utcnow()
            if code.disabled:
                raise CreditError("This store-credit code is disabled.")
            if code.expires_at is not None and code.expires_at <= moment:
                raise CreditError("This store-credit code has expired.")
        available = await balance(session, id_of(code))
        if amount > available:
            raise InsufficientCredit(
                f"Only {available} is left on this code; {amount} was asked for."
            )
        entry = StoreCreditEntry(
            code_id=id_of(code),
            kind=kind,
            amount=-amount,
            idempotency_key=ledger_key,
            created_by=actor,
            note=note[:500],
        )
        session.add(entry)
        await session.flush()
        await record(
            session,
            actor,
            "store_credit_code",
            code.id,
            kind,
            reason=note,
            data={"amount": amount, "balance": available - amount, "key": key},
        )
        await session.commit()
        return LedgerResult(code.code, id_of(entry), amount, available - amount, False)
    except BaseException:
        await session.rollback()
        raise


async def redeem(
    session: AsyncSession,
    code: str,
    amount: int,
    *,
    key: str,
    actor: str,
    now: datetime | None = None,
) -> LedgerResult:
    """The store spends ``amount`` of a code at checkout (idempotent by ``key``)."""
    return await _debit(
        session,
        code,
        amount,
        kind="redeem",
        key=key,
        actor=actor,
        note="Redeemed at the store",
        now=now,
    )


async def reverse(
    session: AsyncSession, code: str, amount: int, *, key: str, actor: str, reason: str
) -> LedgerResult:
    """Finance takes credit back (issued by mistake, return reversed); a reason is required."""
    if not reason.strip():
        raise CreditError("Say why the credit is reversed.")
    return await _debit(session, code, amount, kind="reverse", key=key, actor=actor, note=reason)


async def expire_code(session: AsyncSession, code: str, *, actor: str) -> LedgerResult | None:
    """Expire what is left on one code now (the scheduler does this at the expiry date)."""
    row = (await session.exec(select(StoreCreditCode).where(StoreCreditCode.code == code))).first()
    if row is None:
        raise UnknownCode("That store-credit code does not exist.")
    code_id = id_of(row)
    left = await balance(session, code_id)
    await session.rollback()
    if left <= 0:
        return None
    return await _debit(
        session,
        code,
        left,
        kind="expire",
        key=f"code:{code_id}",
        actor=actor,
        note="Expired by finance",
    )


# --- Credit issued for a return before the parcel was checked ("issue: instant") ----------


async def issued_for(session: AsyncSession, key: str) -> tuple[StoreCreditCode | None, int]:
    """The code issued under ``key`` (see ``issue_credit``) and what it was issued with
    (issue plus bonus), or ``(None, 0)`` when nothing was issued under that key."""
    entry = (
        await session.exec(
            select(StoreCreditEntry).where(StoreCreditEntry.idempotency_key == f"{key}:issue")
        )
    ).first()
    if entry is None:
        return None, 0
    code = await session.get(StoreCreditCode, entry.code_id)
    issued = (
        await session.exec(
            select(sa.func.coalesce(sa.func.sum(StoreCreditEntry.amount), 0)).where(
                StoreCreditEntry.code_id == entry.code_id,
                col(StoreCreditEntry.kind).in_(("issue", "bonus")),
            )
        )
    ).one()
    return code, int(issued)


@dataclass(frozen=True)
class Clawback:
    """Taking back credit that turned out not to be due.

    ``asked`` is what was no longer due, ``reversed`` what came off the code (never more
    than was left unspent on it) and ``uncollectable`` the part the shopper had already
    spent, which the ledger cannot take back (the balance never goes below zero).
    """

    code: str
    asked: int
    reversed: int
    uncollectable: int
    replayed: bool = False


async def claw_back(
    session: AsyncSession,
    key: str,
    amount: int,
    *,
    step: str,
    actor: str,
    reason: str,
    return_id: int | None = None,
) -> Clawback | None:
    """Reverse up to ``amount`` of the credit issued under ``key``, in the caller's
    transaction (no commit): only what is still unspent on the code comes off; the rest is
    reported as ``uncollectable`` and written to the audit trail (on the code and, with
    ``return_id``, on the return) for finance. ``step`` names the occasion
    (``inspection``, ``cancelled``, ``expired``) and the reversal's ledger key
    (``reverse:<key>:<step>``), so a retried step never takes the credit back twice; callers
    run it once per state change of the return, under the return's lock. ``None`` when
    nothing was issued under ``key`` or ``amount`` is not positive."""
    if amount <= 0:
        return None
    if not reason.strip():
        raise CreditError("Say why the credit is reversed.")
    issued_code, _ = await issued_for(session, key)
    if issued_code is None:
        return None
    code = await lock_code(session, issued_code.code)
    ledger_key = f"reverse:{key}:{step}"
    if len(ledger_key) > 120:
        raise CreditError("The reversal key is too long.")
    done = (
        await session.exec(
            select(StoreCreditEntry).where(StoreCreditEntry.idempotency_key == ledger_key)
        )
    ).first()
    if done is not None:
        return Clawback(code.code, amount, -done.amount, amount + done.amount, replayed=True)
    available = max(0, await balance(session, id_of(code)))
    taken = min(amount, available)
    uncollectable = amount - taken
    if taken > 0:
        session.add(
            StoreCreditEntry(
                code_id=id_of(code),
                kind="reverse",
                amount=-taken,
                return_id=return_id,
                idempotency_key=ledger_key,
                created_by=actor,
                note=reason[:500],
            )
        )
        await session.flush()
    await record(
        session,
        actor,
        "store_credit_code",
        code.id,
        "reverse",
        reason=reason,
        data={
            "amount": taken,
            "asked": amount,
            "uncollectable": uncollectable,
            "balance": available - taken,
            "key": ledger_key,
        },
    )
    if return_id is not None:
        await record(
            session,
            actor,
            "return",
            return_id,
            "store_credit_reversed",
            reason=reason,
            data={"code_id": code.id, "asked": amount, "reversed": taken, "step": step},
        )
        if uncollectable:
            await record(
                session,
                actor,
                "return",
                return_id,
                "store_credit_uncollectable",
                reason=(
                    f"{format_money(uncollectable, code.currency)} of the store credit no "
                    f"longer due (code {code.code}) had already been spent and could not be "
                    "taken back."
                ),
                data={
                    "code_id": code.id,
                    "amount": uncollectable,
                    "currency": code.currency,
                    "step": step,
                },
            )
    return Clawback(code.code, amount, taken, uncollectable)
