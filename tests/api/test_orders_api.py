"""POST /api/v1/orders and /api/v1/products: tokens, idempotent upserts, per-field errors."""

from __future__ import annotations

import copy

import pytest
from sqlmodel import func, select

from portal.models import AuditEvent, Order, OrderLine, Variant
from tests.factories import make_token, order_payload


@pytest.fixture
async def token(db) -> str:
    return await make_token(db)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def count(db, model) -> int:
    async with db.session() as session:
        return (await session.exec(select(func.count()).select_from(model))).one()


async def test_missing_or_wrong_token_is_401(client, db) -> None:
    assert (await client.post("/api/v1/orders", json=order_payload())).status_code == 401
    wrong = await client.post(
        "/api/v1/orders", json=order_payload(), headers=bearer("rp_not-a-real-token")
    )
    assert wrong.status_code == 401
    assert wrong.headers["www-authenticate"] == "Bearer"
    assert await count(db, Order) == 0


async def test_order_is_created_then_updated_by_number(client, db, token) -> None:
    created = await client.post(
        "/api/v1/orders", json=order_payload(number="#ab-1001"), headers=bearer(token)
    )
    assert created.status_code == 201, created.text
    assert created.json()["number"] == "AB-1001"
    assert created.json()["created"] is True

    changed = order_payload(number="AB-1001", total=9900)
    changed["lines"][0]["quantity"] = 3
    changed["lines"].append({"id": "L3", "title": "Hat", "quantity": 1, "unit_price": 1900})
    updated = await client.post("/api/v1/orders", json=changed, headers=bearer(token))
    assert updated.status_code == 200
    assert updated.json() == {"number": "AB-1001", "id": created.json()["id"], "created": False}

    async with db.session() as session:
        order = (await session.exec(select(Order))).one()
        lines = (await session.exec(select(OrderLine).order_by(OrderLine.line_ref))).all()
        audits = (
            await session.exec(select(AuditEvent).where(AuditEvent.entity_type == "order"))
        ).all()
    assert order.total == 9900
    assert order.postal_code_key == "97205"
    assert order.placed_at.tzinfo is not None
    assert [(line.line_ref, line.quantity) for line in lines] == [("L1", 3), ("L2", 1), ("L3", 1)]
    assert [a.action for a in audits] == ["created", "updated"]
    assert audits[0].actor == "api:store"


async def test_same_order_twice_is_one_order(client, db, token) -> None:
    for _ in range(2):
        response = await client.post("/api/v1/orders", json=order_payload(), headers=bearer(token))
        assert response.status_code in (200, 201)
    assert await count(db, Order) == 1
    assert await count(db, OrderLine) == 2


@pytest.mark.parametrize(
    ("mutate", "field", "fragment"),
    [
        (lambda p: p.update(colour="red"), "colour", "unknown field"),
        (lambda p: p["lines"][0].update(size="M"), "lines[0].size", "unknown field"),
        (lambda p: p.update(total="75.00"), "total", "integer"),
        (lambda p: p.update(total=-1), "total", "greater than or equal to 0"),
        (lambda p: p["lines"][0].update(unit_price=-500), "lines[0].unit_price", "greater than"),
        (
            lambda p: p["lines"][1].update(quantity=0),
            "lines[1].quantity",
            "greater than or equal to 1",
        ),
        (lambda p: p["lines"][1].update(id="L1"), "lines[1].id", "duplicate line id"),
        (lambda p: p.update(currency="XYZ"), "currency", "unknown currency"),
        (lambda p: p.update(placed_at="2026-11-01T12:00:00"), "placed_at", "timezone"),
        (lambda p: p.update(lines=[]), "lines", "at least 1"),
        (
            lambda p: p["shipping_address"].update(country="USA"),
            "shipping_address.country",
            "at most 2",
        ),
        (lambda p: p.pop("email"), "email", "Field required"),
    ],
)
async def test_bad_orders_get_422_naming_the_field(
    client, db, token, mutate, field, fragment
) -> None:
    payload = copy.deepcopy(order_payload())
    mutate(payload)
    response = await client.post("/api/v1/orders", json=payload, headers=bearer(token))
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert any(e["field"] == field and fragment.lower() in e["message"].lower() for e in errors), (
        errors
    )
    assert await count(db, Order) == 0


async def test_several_errors_are_reported_together(client, token) -> None:
    payload = order_payload(total=-5, currency="ABC")
    payload["lines"][0]["quantity"] = 0
    response = await client.post("/api/v1/orders", json=payload, headers=bearer(token))
    fields = {e["field"] for e in response.json()["errors"]}
    assert {"total", "currency", "lines[0].quantity"} <= fields


async def test_body_that_is_not_json_is_422(client, token) -> None:
    response = await client.post(
        "/api/v1/orders",
        content=b"{not json",
        headers={**bearer(token), "content-type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body"


async def test_products_push_sets_stock_and_links_order_lines(client, db, token) -> None:
    products = [
        {
            "handle": "tee",
            "title": "Classic Tee",
            "product_type": "Tops",
            "variants": [
                {"sku": "TEE-M", "title": "M", "price": 2500, "stock": 4},
                {"sku": "TEE-L", "title": "L", "price": 2500, "stock": 0},
            ],
        }
    ]
    response = await client.post("/api/v1/products", json=products, headers=bearer(token))
    assert response.status_code == 200, response.text
    await client.post("/api/v1/orders", json=order_payload(), headers=bearer(token))
    async with db.session() as session:
        variant = (await session.exec(select(Variant).where(Variant.sku == "TEE-M"))).one()
        line = (await session.exec(select(OrderLine).where(OrderLine.line_ref == "L1"))).one()
    assert variant.stock_on_hand == 4
    assert line.variant_id == variant.id


async def test_bad_product_push_writes_nothing(client, db, token) -> None:
    products = [
        {"handle": "ok", "title": "Fine", "variants": [{"sku": "OK-1", "price": 100, "stock": 1}]},
        {"handle": "bad", "title": "Bad", "variants": [{"sku": "B-1", "price": -1, "stock": 1}]},
        {
            "handle": "dup",
            "title": "Dup",
            "variants": [
                {"sku": "D-1", "price": 1, "stock": 1},
                {"sku": "D-1", "price": 1, "stock": 1},
            ],
        },
    ]
    response = await client.post("/api/v1/products", json=products, headers=bearer(token))
    assert response.status_code == 422
    fields = [e["field"] for e in response.json()["errors"]]
    assert "products[1].variants[0].price" in fields
    assert any("duplicate sku" in e["message"] for e in response.json()["errors"])
    assert await count(db, Variant) == 0


@pytest.mark.parametrize(
    "url", ["javascript:alert(document.domain)", "http://images.example/tee.jpg", "//x.example/a"]
)
async def test_image_urls_must_be_https(client, db, token, url) -> None:
    """Issue 18, finding 11: only https images (or none) reach the shopper's pages."""
    payload = copy.deepcopy(order_payload())
    payload["lines"][1]["image_url"] = url
    response = await client.post("/api/v1/orders", json=payload, headers=bearer(token))
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert any(e["field"] == "lines[1].image_url" and "https" in e["message"] for e in errors)
    products = [
        {
            "handle": "tee",
            "title": "Tee",
            "image_url": url,
            "variants": [{"sku": "T-1", "price": 1, "stock": 1, "image_url": url}],
        }
    ]
    response = await client.post("/api/v1/products", json=products, headers=bearer(token))
    assert response.status_code == 422, response.text
    fields = {e["field"] for e in response.json()["errors"]}
    assert {"products[0].image_url", "products[0].variants[0].image_url"} <= fields
    assert await count(db, Order) == 0 and await count(db, Variant) == 0


async def test_https_or_empty_image_urls_are_kept(client, db, token) -> None:
    payload = copy.deepcopy(order_payload())
    payload["lines"][0]["image_url"] = "https://cdn.example/tee.jpg"
    payload["lines"][1]["image_url"] = ""
    response = await client.post("/api/v1/orders", json=payload, headers=bearer(token))
    assert response.status_code in (200, 201), response.text
    async with db.session() as session:
        urls = sorted(str(line.image_url) for line in (await session.exec(select(OrderLine))).all())
    assert urls == ["None", "https://cdn.example/tee.jpg"]
