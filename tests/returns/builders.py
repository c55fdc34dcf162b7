"""A small store for return tests, built through the real domain functions: the default
apparel policy, a product with sizes in stock, and one order whose lines exercise the
policy (a plain tee, a discounted scarf, a final-sale item, cheap socks, swimwear)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlmodel import select

from portal.catalog import ProductIn, VariantIn, upsert_products
from portal.db import Database
from portal.models.base import utcnow
from portal.models.catalog import Variant
from portal.models.orders import OrderLine
from portal.orders import AddressIn, CustomerIn, LineIn, OrderIn, upsert_order
from portal.policy.versions import DEFAULT_POLICY_FILE, publish

DEFAULT_POLICY = DEFAULT_POLICY_FILE.read_text()
EMAIL = "sam.shopper@example.com"
POSTAL = "97205"

# A JPEG's first bytes are enough for the magic-byte check; the rest is filler.
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 200
PNG_1PX = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e2b8f6a50000000049454e44ae426082"
)


@dataclass
class Shop:
    order_id: int
    number: str
    lines: dict[str, int]  # line ref -> order line id
    variants: dict[str, int]  # sku -> variant id


def products() -> list[ProductIn]:
    def tee(size: str, stock: int, price: int = 2500) -> VariantIn:
        return VariantIn(
            sku=f"TEE-{size}", title=size, options={"Size": size}, price=price, stock=stock
        )

    return [
        ProductIn(
            handle="classic-tee",
            title="Classic Tee",
            product_type="Tops",
            vendor="Northwind",
            tags=["cotton"],
            variants=[tee("S", 4), tee("M", 3), tee("L", 2), tee("XL", 5, 3000), tee("XXL", 0)],
        ),
        ProductIn(
            handle="silk-scarf",
            title="Silk Scarf",
            product_type="Accessories",
            tags=["silk", "sale"],
            variants=[
                VariantIn(sku="SCARF-BLUE", title="Blue", price=6900, stock=1),
                VariantIn(sku="SCARF-GREEN", title="Green", price=6900, stock=1),
            ],
        ),
        ProductIn(
            handle="sport-socks",
            title="Sport Socks",
            product_type="Accessories",
            variants=[VariantIn(sku="SOCK-M", title="M", price=1200, stock=9)],
        ),
        ProductIn(
            handle="swim-trunks",
            title="Swim Trunks",
            product_type="Swimwear",
            variants=[VariantIn(sku="SWIM-M", title="M", price=4200, stock=3)],
        ),
        ProductIn(
            handle="sample-tee",
            title="Sample Sale Tee",
            product_type="Tops",
            tags=["final-sale"],
            variants=[VariantIn(sku="SAMPLE-M", title="M", price=1200, stock=3)],
        ),
        ProductIn(
            handle="down-parka",
            title="Down Parka",
            product_type="Outerwear",
            variants=[
                VariantIn(sku="PARKA-M", title="M", price=32000, stock=2),
                VariantIn(sku="PARKA-L", title="L", price=32000, stock=2),
            ],
        ),
    ]


def order_in(number: str, now: datetime, customer_tags: list[str], **overrides: Any) -> OrderIn:
    lines = [
        LineIn(
            id="L1",
            sku="TEE-M",
            title="Classic Tee",
            variant_title="M",
            product_type="Tops",
            vendor="Northwind",
            tags=["cotton"],
            quantity=2,
            unit_price=2500,
        ),
        LineIn(
            id="L2",
            sku="SCARF-BLUE",
            title="Silk Scarf",
            variant_title="Blue",
            product_type="Accessories",
            tags=["silk", "sale"],
            quantity=1,
            unit_price=6900,
            discount=1380,
        ),
        LineIn(
            id="L3",
            sku="SAMPLE-M",
            title="Sample Sale Tee",
            variant_title="M",
            product_type="Tops",
            tags=["final-sale"],
            quantity=1,
            unit_price=1200,
        ),
        LineIn(
            id="L4",
            sku="SOCK-M",
            title="Sport Socks",
            variant_title="M",
            product_type="Accessories",
            quantity=1,
            unit_price=1200,
        ),
        LineIn(
            id="L5",
            sku="SWIM-M",
            title="Swim Trunks",
            variant_title="M",
            product_type="Swimwear",
            quantity=1,
            unit_price=4200,
        ),
        LineIn(
            id="L6",
            sku="PARKA-M",
            title="Down Parka",
            variant_title="M",
            product_type="Outerwear",
            quantity=1,
            unit_price=32000,
        ),
    ]
    fields: dict[str, Any] = {
        "number": number,
        "email": EMAIL,
        "currency": "USD",
        "placed_at": now - timedelta(days=8),
        "fulfilled_at": now - timedelta(days=7),
        "delivered_at": now - timedelta(days=5),
        "total": sum(li.unit_price * li.quantity - li.discount for li in lines),
        "customer": CustomerIn(email=EMAIL, name="Sam Shopper", tags=customer_tags),
        "shipping_address": AddressIn(
            country="US",
            postal_code=POSTAL,
            name="Sam Shopper",
            street1="1 Oak St",
            city="Portland",
            state="OR",
        ),
        "lines": lines,
    }
    fields.update(overrides)
    return OrderIn(**fields)


async def seed_shop(
    db: Database,
    *,
    number: str = "1001",
    customer_tags: list[str] | None = None,
    policy_text: str | None = None,
    now: datetime | None = None,
    with_products: bool = True,
    **order_overrides: Any,
) -> Shop:
    """Policy, products and one order; call again with another number for a second order."""
    now = now or utcnow()
    async with db.session() as session:
        await publish(session, policy_text or DEFAULT_POLICY, author="tests")
        if with_products:
            existing = (await session.exec(select(Variant.id).limit(1))).first()
            if existing is None:
                await upsert_products(session, products(), actor="tests")
        result = await upsert_order(
            session, order_in(number, now, customer_tags or [], **order_overrides), "tests"
        )
        await session.commit()
        lines = (
            await session.exec(select(OrderLine).where(OrderLine.order_id == result.order.id))
        ).all()
        variants = (await session.exec(select(Variant))).all()
        return Shop(
            order_id=result.order.id,  # type: ignore[arg-type]
            number=number,
            lines={line.line_ref: line.id for line in lines},  # type: ignore[misc]
            variants={v.sku: v.id for v in variants},  # type: ignore[misc]
        )


def write_pdf(path: Path) -> None:
    """A tiny stand-in PDF for label and slip downloads."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
