"""Store credit: redeem (idempotent, never below zero), reverse, expire; the store's API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from portal.models.audit import AuditEvent
from portal.models.base import utcnow
from portal.models.money import StoreCreditEntry
from portal.money.credit import (
    CreditError,
    InsufficientCredit,
    KeyReused,
    UnknownCode,
    balance,
    expire_code,
    issue_credit,
    redeem,
    reverse,
)
from tests.factories import make_token


async def _code(db, amount=1000, bonus=0, key="k", **kw):
    async with db.session() as session:
        code = await issue_credit(
            session,
            currency="USD",
            amount=amount,
            bonus=bonus,
            customer_id=None,
            return_id=None,
            actor="test",
            key=key,
            **kw,
        )
        await session.commit()
        return code


async def test_redeem_is_idempotent_and_bounded(db) -> None:
    code = await _code(db, 1000, bonus=200)
    async with db.session() as session:
        first = await redeem(session, code.code, 700, key="order-1", actor="api:store")
        again = await redeem(session, code.code.lower(), 700, key="order-1", actor="api:store")
        assert (first.balance, again.balance, again.replayed) == (500, 500, True)
        assert again.entry_id == first.entry_id
        with pytest.raises(KeyReused):
            await redeem(session, code.code, 100, key="order-1", actor="api:store")
        with pytest.raises(InsufficientCredit):
            await redeem(session, code.code, 501, key="order-2", actor="api:store")
        with pytest.raises(UnknownCode):
            await redeem(session, "NOPE-NOPE-NOPE-NOPE", 1, key="order-3", actor="api:store")
        with pytest.raises(CreditError):
            await redeem(session, code.code, 0, key="order-4", actor="api:store")
        assert await balance(session, code.id) == 500


async def test_reverse_needs_a_reason_and_expire_takes_the_rest(db) -> None:
    code = await _code(db, 1000)
    async with db.session() as session:
        with pytest.raises(CreditError):
            await reverse(session, code.code, 100, key="r1", actor="user:f", reason=" ")
        await reverse(session, code.code, 300, key="r1", actor="user:f", reason="issued twice")
        result = await expire_code(session, code.code, actor="user:f")
        assert result is not None and result.amount == 700
        assert await expire_code(session, code.code, actor="user:f") is None
        assert await balance(session, code.id) == 0
        kinds = (
            await session.exec(select(StoreCreditEntry.kind).order_by(StoreCreditEntry.id))
        ).all()
        actions = (
            await session.exec(
                select(AuditEvent.action).where(AuditEvent.entity_type == "store_credit_code")
            )
        ).all()
    assert kinds == ["issue", "reverse", "expire"]
    assert actions == ["issued", "reverse", "expire"]


async def test_an_expired_code_cannot_be_redeemed(db) -> None:
    code = await _code(db, 1000, expires_days=1, now=utcnow() - timedelta(days=3))
    async with db.session() as session:
        with pytest.raises(CreditError, match="expired"):
            await redeem(session, code.code, 100, key="late", actor="api:store")


async def test_the_redemption_api(client, db) -> None:
    code = await _code(db, 1000)
    token = await make_token(db)
    auth = {"Authorization": f"Bearer {token}"}
    url = "/api/v1/store-credit/redeem"
    r = await client.post(url, json={"code": code.code, "amount": 400}, headers=auth)
    assert r.status_code == 400 and "Idempotency-Key" in r.json()["detail"]
    headers = {**auth, "Idempotency-Key": "checkout-77"}
    first = await client.post(url, json={"code": code.code, "amount": 400}, headers=headers)
    assert first.status_code == 201, first.text
    assert first.json()["balance"] == 600
    replay = await client.post(url, json={"code": code.code, "amount": 400}, headers=headers)
    assert replay.status_code == 200 and replay.json()["replayed"] is True
    short = await client.post(
        url,
        json={"code": code.code, "amount": 601},
        headers={**auth, "Idempotency-Key": "checkout-78"},
    )
    assert short.status_code == 409
    bad = await client.post(
        url,
        json={"code": code.code, "amount": "1"},
        headers={**auth, "Idempotency-Key": "checkout-79"},
    )
    assert bad.status_code == 422
    unknown = await client.post(
        url,
        json={"code": "AAAA-AAAA-AAAA-AAAA", "amount": 1},
        headers={**auth, "Idempotency-Key": "checkout-80"},
    )
    assert unknown.status_code == 404
    nobody = await client.post(
        url, json={"code": code.code, "amount": 1}, headers={"Idempotency-Key": "x"}
    )
    assert nobody.status_code == 401
    async with db.session() as session:
        assert await balance(session, code.id) == 600
