"""Small builders for test data, written against the domain functions (no shortcuts)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from portal.accounts import create_api_token, create_user
from portal.db import Database
from portal.models.staff import StaffUser

PASSWORD = "correct horse battery"


async def make_user(db: Database, email: str, *roles: str, active: bool = True) -> StaffUser:
    async with db.session() as session:
        user = await create_user(session, email, PASSWORD, list(roles), name=email.split("@")[0])
        if not active:
            user.active = False
            session.add(user)
            await session.commit()
        return user


async def make_token(db: Database, name: str = "store") -> str:
    async with db.session() as session:
        return (await create_api_token(session, name)).secret


def order_payload(number: str = "1001", **overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "number": number,
        "email": "shopper@example.com",
        "currency": "USD",
        "placed_at": datetime(2026, 11, 1, 12, tzinfo=UTC).isoformat(),
        "fulfilled_at": datetime(2026, 11, 2, 9, tzinfo=UTC).isoformat(),
        "delivered_at": datetime(2026, 11, 5, 15, tzinfo=UTC).isoformat(),
        "total": 7500,
        "tags": ["web"],
        "customer": {"email": "shopper@example.com", "tags": ["vip"]},
        "shipping_address": {
            "country": "US",
            "postal_code": "97205",
            "name": "Sam Shopper",
            "street1": "1 Oak St",
            "city": "Portland",
            "state": "OR",
        },
        "lines": [
            {
                "id": "L1",
                "sku": "TEE-M",
                "title": "Classic Tee",
                "product_type": "Tops",
                "vendor": "Northwind",
                "tags": ["cotton"],
                "quantity": 2,
                "unit_price": 2500,
                "discount": 500,
                "returned_quantity": 0,
            },
            {"id": "L2", "sku": "SOCK-L", "title": "Socks", "quantity": 1, "unit_price": 3000},
        ],
    }
    payload.update(overrides)
    return payload
