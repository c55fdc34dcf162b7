"""Bad input from the open internet: a clear 400/404/422, never a 500, and nothing written."""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import func, select

from portal.models import AuditEvent, Order
from portal.models.money import StoreCreditEntry
from tests.conftest import submit_form
from tests.factories import PASSWORD, make_token, make_user, order_payload


async def login(client: Any, db: Any, *roles: str) -> None:
    await make_user(db, "staff@shop.example", *roles)
    response = await submit_form(
        client,
        "/login",
        "/login",
        {"email": "staff@shop.example", "password": PASSWORD, "next": ""},
        follow_redirects=False,
    )
    assert response.status_code == 303


async def count(db: Any, model: Any) -> int:
    async with db.session() as session:
        return (await session.exec(select(func.count()).select_from(model))).one()


async def audit_rows(db: Any) -> int:
    return await count(db, AuditEvent)


async def test_a_link_with_non_ascii_text_is_not_valid_and_opens_nothing(client, db) -> None:
    response = await client.get("/link/%C3%A9.abc", follow_redirects=False)
    assert response.status_code == 400
    assert "The link is incomplete or has been changed" in response.text
    order = await client.get("/order", follow_redirects=False)
    assert order.status_code in (302, 303)  # no order session was opened


async def test_dates_at_the_end_of_the_calendar_are_refused_with_the_range(client, db) -> None:
    await login(client, db, "merchant", "finance")
    before = await audit_rows(db)
    for url, message in [
        ("/finance/reports?end=9999-12-31", "Dates must be between 1970-01-01 and 2999-12-31."),
        ("/finance/reports?start=0001-01-01", "Dates must be between 1970-01-01 and 2999-12-31."),
        (
            "/merchant/audit?to=9999-12-31",
            "The end date must be between 1970-01-01 and 2999-12-31.",
        ),
        (
            "/merchant/analytics?from=9999-12-01&to=9999-12-31",
            "Dates must be between 1970-01-01 and 2999-12-31.",
        ),
        (
            "/merchant/analytics.csv?from=9999-12-01&to=9999-12-31",
            "Dates must be between 1970-01-01 and 2999-12-31.",
        ),
    ]:
        response = await client.get(url)
        assert response.status_code == 400, url
        assert message in response.text, url
    assert await audit_rows(db) == before


async def test_huge_numbers_in_query_parameters_are_refused_with_the_limit(client, db) -> None:
    await login(client, db, "merchant", "finance")
    huge = "9" * 30
    before = await audit_rows(db)
    for url, message in [
        (f"/finance/?older_than_days={huge}", "Older than days must be at most 36500."),
        (f"/finance/?min_amount={huge}", "Min amount must be at most 2147483647."),
        (f"/finance/?max_amount={'9' * 5000}", "Max amount must be at most 2147483647."),
        ("/finance/?min_amount=%D9%A3", "Min amount must be a whole number."),  # Arabic-Indic 3
        (f"/merchant/audit?page={huge}", "The page must be a number from 1 to 100000."),
    ]:
        response = await client.get(url)
        assert response.status_code == 400, url
        assert message in response.text, url
    at_the_limit = await client.get("/finance/?min_amount=2147483647&older_than_days=36500")
    assert at_the_limit.status_code == 200  # the largest values still reach the database
    mailbox = await client.get(f"/merchant/mailbox/?page={huge}")
    assert mailbox.status_code == 400
    assert "could not be read" in mailbox.text
    assert await audit_rows(db) == before


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


async def test_orders_api_refuses_amounts_and_quantities_beyond_the_columns(client, db) -> None:
    headers = bearer(await make_token(db))
    huge = 10**30
    line = {"id": "L1", "title": "Tee", "quantity": 1, "unit_price": 100}
    cases = [
        (order_payload(total=huge), "total", "less than or equal to 2147483647"),
        (
            order_payload(lines=[{**line, "quantity": huge}]),
            "lines[0].quantity",
            "less than or equal to 1000000",
        ),
        (
            order_payload(lines=[{**line, "unit_price": huge}]),
            "lines[0].unit_price",
            "less than or equal to 2147483647",
        ),
        (
            order_payload(lines=[{**line, "unit_price": 2**31 - 1, "quantity": 2}]),
            "lines[0]",
            "unit_price × quantity must be at most 2147483647",
        ),
    ]
    for payload, field, message in cases:
        response = await client.post("/api/v1/orders", content=json.dumps(payload), headers=headers)
        assert response.status_code == 422, response.text
        errors = {e["field"]: e["message"] for e in response.json()["errors"]}
        assert message in errors[field], errors
    assert await count(db, Order) == 0


async def test_json_nested_100000_deep_is_refused_not_a_crash(client, db) -> None:
    headers = bearer(await make_token(db))
    deep = "[" * 100_000 + "]" * 100_000
    for path in ("/api/v1/orders", "/api/v1/products"):
        response = await client.post(path, content=deep, headers=headers)
        assert response.status_code == 422, path
        assert response.json()["errors"] == [{"field": "body", "message": "nested too deeply"}]
    redeem = await client.post(
        "/api/v1/store-credit/redeem",
        content=deep,
        headers={**headers, "Idempotency-Key": "deep-1"},
    )
    assert redeem.status_code == 422
    assert redeem.json() == {"detail": "The body is nested too deeply."}
    assert await count(db, Order) == 0


async def test_redeem_with_a_lone_surrogate_code_is_refused(client, db) -> None:
    headers = bearer(await make_token(db))
    before = await count(db, StoreCreditEntry)
    response = await client.post(
        "/api/v1/store-credit/redeem",
        content='{"code": "\\ud800", "amount": 5}',
        headers={**headers, "Idempotency-Key": "surrogate-1"},
    )
    assert response.status_code == 422
    assert response.json() == {"detail": "'code' must be the store-credit code."}
    assert await count(db, StoreCreditEntry) == before
