"""The demo store: believable products, customers and ~200 orders over the last 60 days.

Deterministic (a seeded random generator) so screenshots and walkthroughs repeat.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.accounts import create_user
from portal.catalog import ProductIn, VariantIn, upsert_products
from portal.models.base import utcnow
from portal.models.catalog import Product, Variant
from portal.models.orders import Order
from portal.models.staff import StaffUser
from portal.orders import AddressIn, CustomerIn, LineIn, OrderIn, import_orders
from portal.policy.versions import ensure_default_policy
from portal.returns.demo import seed_demo_returns
from portal.returns.links import LinkSigner
from portal.settings import load_settings

DEMO_LOGINS = (
    ("admin@demo.example", "demo-admin-pass", ["admin"], "Ada Admin"),
    ("merchant@demo.example", "demo-merchant-pass", ["merchant"], "Mia Merchant"),
    ("warehouse@demo.example", "demo-warehouse-pass", ["warehouse"], "Wes Warehouse"),
    ("finance@demo.example", "demo-finance-pass", ["finance"], "Fay Finance"),
)

_CATALOG = [
    # handle, title, type, vendor, tags, base price (cents), option name, option values
    (
        "classic-tee",
        "Classic Cotton Tee",
        "Tops",
        "Northwind",
        ["cotton"],
        2500,
        "Size",
        ["XS", "S", "M", "L", "XL"],
    ),
    (
        "linen-shirt",
        "Linen Button Shirt",
        "Tops",
        "Northwind",
        ["linen", "summer"],
        5900,
        "Size",
        ["S", "M", "L", "XL"],
    ),
    (
        "merino-sweater",
        "Merino Crew Sweater",
        "Tops",
        "Highland",
        ["wool"],
        8900,
        "Size",
        ["S", "M", "L"],
    ),
    (
        "hooded-sweatshirt",
        "Hooded Sweatshirt",
        "Tops",
        "Northwind",
        ["cotton"],
        6500,
        "Size",
        ["S", "M", "L", "XL"],
    ),
    (
        "slim-jeans",
        "Slim Selvedge Jeans",
        "Bottoms",
        "Indigo & Co",
        ["denim"],
        11900,
        "Waist",
        ["28", "30", "32", "34", "36"],
    ),
    (
        "chino-trousers",
        "Stretch Chinos",
        "Bottoms",
        "Indigo & Co",
        [],
        7900,
        "Waist",
        ["30", "32", "34"],
    ),
    (
        "running-shorts",
        "Running Shorts",
        "Bottoms",
        "Pace",
        ["sport"],
        3500,
        "Size",
        ["S", "M", "L"],
    ),
    (
        "rain-jacket",
        "Packable Rain Jacket",
        "Outerwear",
        "Highland",
        ["waterproof"],
        14900,
        "Size",
        ["S", "M", "L", "XL"],
    ),
    (
        "down-parka",
        "Down Parka",
        "Outerwear",
        "Highland",
        ["winter"],
        29900,
        "Size",
        ["S", "M", "L"],
    ),
    (
        "trail-runner",
        "Trail Running Shoe",
        "Footwear",
        "Pace",
        ["sport"],
        13900,
        "EU size",
        ["39", "40", "41", "42", "43", "44", "45"],
    ),
    (
        "leather-boot",
        "Leather Chelsea Boot",
        "Footwear",
        "Cobbler",
        ["leather"],
        18900,
        "EU size",
        ["40", "41", "42", "43", "44"],
    ),
    (
        "canvas-sneaker",
        "Canvas Sneaker",
        "Footwear",
        "Cobbler",
        [],
        6900,
        "EU size",
        ["38", "39", "40", "41", "42", "43"],
    ),
    (
        "wool-beanie",
        "Wool Beanie",
        "Accessories",
        "Highland",
        ["wool"],
        2900,
        "Colour",
        ["Charcoal", "Rust", "Navy"],
    ),
    (
        "leather-belt",
        "Leather Belt",
        "Accessories",
        "Cobbler",
        ["leather"],
        4500,
        "Length",
        ["85", "95", "105"],
    ),
    (
        "sport-socks",
        "Sport Socks 3-pack",
        "Accessories",
        "Pace",
        ["hygiene"],
        1500,
        "Size",
        ["S", "M", "L"],
    ),
    (
        "swim-trunks",
        "Swim Trunks",
        "Swimwear",
        "Pace",
        ["hygiene", "summer"],
        4200,
        "Size",
        ["S", "M", "L"],
    ),
    (
        "gift-card",
        "Gift Card",
        "Gift Card",
        "Demo Store",
        ["gift-card", "final-sale"],
        5000,
        "Amount",
        ["50"],
    ),
    (
        "sample-sale-tee",
        "Sample Sale Tee",
        "Tops",
        "Northwind",
        ["final-sale", "sale"],
        1200,
        "Size",
        ["S", "M", "L"],
    ),
    (
        "printed-scarf",
        "Printed Silk Scarf",
        "Accessories",
        "Atelier",
        ["silk", "sale"],
        6900,
        "Colour",
        ["Blue", "Green"],
    ),
    (
        "yoga-leggings",
        "Yoga Leggings",
        "Bottoms",
        "Pace",
        ["sport"],
        5900,
        "Size",
        ["XS", "S", "M", "L"],
    ),
    (
        "denim-jacket",
        "Denim Jacket",
        "Outerwear",
        "Indigo & Co",
        ["denim"],
        12900,
        "Size",
        ["S", "M", "L", "XL"],
    ),
    (
        "oxford-shirt",
        "Oxford Shirt",
        "Tops",
        "Northwind",
        ["cotton"],
        6900,
        "Size",
        ["S", "M", "L", "XL"],
    ),
    (
        "cashmere-scarf",
        "Cashmere Scarf",
        "Accessories",
        "Atelier",
        ["cashmere"],
        11900,
        "Colour",
        ["Camel", "Grey"],
    ),
    (
        "hiking-boot",
        "Waterproof Hiking Boot",
        "Footwear",
        "Highland",
        ["waterproof"],
        21900,
        "EU size",
        ["40", "41", "42", "43", "44", "45"],
    ),
    (
        "tote-bag",
        "Canvas Tote Bag",
        "Accessories",
        "Atelier",
        [],
        3900,
        "Colour",
        ["Natural", "Black"],
    ),
    (
        "polo-shirt",
        "Pique Polo",
        "Tops",
        "Northwind",
        ["cotton", "sale"],
        4900,
        "Size",
        ["S", "M", "L", "XL"],
    ),
    (
        "rain-boot",
        "Rubber Rain Boot",
        "Footwear",
        "Cobbler",
        ["waterproof"],
        8900,
        "EU size",
        ["37", "38", "39", "40", "41"],
    ),
    ("fleece-vest", "Fleece Vest", "Outerwear", "Highland", [], 7500, "Size", ["S", "M", "L"]),
    (
        "sun-hat",
        "Wide-Brim Sun Hat",
        "Accessories",
        "Atelier",
        ["summer"],
        3900,
        "Size",
        ["S/M", "L/XL"],
    ),
    (
        "thermal-base",
        "Thermal Base Layer",
        "Tops",
        "Highland",
        ["wool", "winter"],
        5900,
        "Size",
        ["S", "M", "L"],
    ),
]

_FIRST = [
    "Alex",
    "Sam",
    "Jordan",
    "Taylor",
    "Morgan",
    "Casey",
    "Riley",
    "Jamie",
    "Avery",
    "Quinn",
    "Harper",
    "Rowan",
    "Emery",
    "Noa",
    "Kai",
    "Sasha",
    "Robin",
    "Drew",
    "Elliot",
    "Frankie",
]
_LAST = [
    "Garcia",
    "Nguyen",
    "Smith",
    "Okafor",
    "Kowalski",
    "Rossi",
    "Müller",
    "Haddad",
    "Tanaka",
    "Silva",
    "Brown",
    "Johansson",
    "Dubois",
    "Patel",
    "Kim",
]
_CITIES = [
    ("Portland", "OR", "97205"),
    ("Austin", "TX", "78701"),
    ("Denver", "CO", "80202"),
    ("Brooklyn", "NY", "11201"),
    ("Chicago", "IL", "60614"),
    ("Seattle", "WA", "98101"),
    ("Boston", "MA", "02116"),
    ("San Diego", "CA", "92101"),
    ("Atlanta", "GA", "30303"),
    ("Minneapolis", "MN", "55401"),
]
_STREETS = ["Oak St", "Maple Ave", "Pine Rd", "Cedar Ln", "Elm St", "Birch Way", "Lake Dr"]


@dataclass(frozen=True)
class DemoSummary:
    products: int
    orders: int
    users: list[tuple[str, str, list[str]]]


def demo_products() -> list[ProductIn]:
    rng = random.Random(7)
    products = []
    for handle, title, ptype, vendor, tags, price, option, values in _CATALOG:
        variants = [
            VariantIn(
                sku=f"{handle.upper().replace('-', '')[:10]}-{value.replace('/', '').upper()}",
                title=value,
                options={option: value},
                price=price,
                stock=rng.choice([0, 2, 5, 8, 12, 20, 35]),
            )
            for value in values
        ]
        products.append(
            ProductIn(
                handle=handle,
                title=title,
                product_type=ptype,
                vendor=vendor,
                tags=tags,
                variants=variants,
            )
        )
    return products


def demo_orders(now: datetime, count: int = 200) -> list[OrderIn]:
    rng = random.Random(42)
    catalog = demo_products()
    customers = []
    for i in range(120):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        tags = []
        if i % 17 == 0:
            tags.append("vip")
        if i % 29 == 0:
            tags.append("wholesale")
        customers.append(
            (f"{first} {last}", f"{first}.{last}.{i}@example.com".lower().replace("ü", "u"), tags)
        )
    orders = []
    for n in range(count):
        name, email, ctags = rng.choice(customers)
        city, state, zip_code = rng.choice(_CITIES)
        # The newest few orders are always less than a day old (not yet shipped), whatever
        # the date: the demo shows every kind of order on every day it is started.
        days_ago = rng.uniform(0.05, 0.6) if n >= count - 3 else rng.uniform(0.2, 60)
        placed = now - timedelta(days=days_ago, minutes=rng.randint(0, 120))
        age = now - placed
        fulfilled = (
            placed + timedelta(hours=rng.randint(6, 48)) if age > timedelta(days=1) else None
        )
        delivered = (
            fulfilled + timedelta(days=rng.randint(2, 5))
            if fulfilled and now - fulfilled > timedelta(days=5)
            else None
        )
        lines = []
        for index, product in enumerate(rng.sample(catalog, rng.choice([1, 1, 2, 2, 3, 4]))):
            variant = rng.choice(product.variants)
            quantity = 1 if rng.random() < 0.8 else 2
            discount = 0
            if "sale" in product.tags or rng.random() < 0.15:
                discount = round(variant.price * quantity * rng.choice([0.1, 0.2, 0.3]))
            lines.append(
                LineIn(
                    id=f"L{index + 1}",
                    sku=variant.sku,
                    title=product.title,
                    variant_title=variant.title,
                    product_type=product.product_type,
                    vendor=product.vendor,
                    tags=product.tags,
                    quantity=quantity,
                    unit_price=variant.price,
                    discount=discount,
                )
            )
        shipping = 0 if sum(line.unit_price * line.quantity for line in lines) > 10000 else 695
        total = sum(line.unit_price * line.quantity - line.discount for line in lines) + shipping
        holiday = rng.random() < 0.3  # drawn every time, so the date never shifts the sequence
        order_tags = ["holiday"] if placed.month in (11, 12) and holiday else []
        orders.append(
            OrderIn(
                number=str(1001 + n),
                email=email,
                currency="USD",
                placed_at=placed,
                fulfilled_at=fulfilled,
                delivered_at=delivered,
                total=total,
                tags=order_tags,
                customer=CustomerIn(email=email, name=name, tags=ctags),
                shipping_address=AddressIn(
                    country="US",
                    postal_code=zip_code,
                    name=name,
                    street1=f"{rng.randint(10, 999)} {rng.choice(_STREETS)}",
                    city=city,
                    state=state,
                ),
                lines=lines,
                payment_reference=f"pi_demo_{1001 + n}",
            )
        )
    return orders


async def _seed_returns(session: AsyncSession, now: datetime) -> None:
    """A dozen past returns in several states, made by the returns domain itself."""
    await seed_demo_returns(session, LinkSigner(load_settings().ensure_secret_key()), now)


async def seed_demo(session: AsyncSession, now: datetime | None = None) -> DemoSummary:
    """Seed once: a database that already has products is left as it is."""
    if (await session.exec(select(Product.id).limit(1))).first() is None:
        await upsert_products(session, demo_products(), actor="demo")
        await import_orders(session, demo_orders(now or utcnow()), actor="demo")
    await ensure_default_policy(session)
    await _seed_returns(session, now or utcnow())
    for email, password, roles, name in DEMO_LOGINS:
        if (await session.exec(select(StaffUser).where(StaffUser.email == email))).first() is None:
            await create_user(session, email, password, roles, name=name)
    products = len((await session.exec(select(Variant.product_id).distinct())).all())
    orders = len((await session.exec(select(Order.id))).all())
    return DemoSummary(
        products=products, orders=orders, users=[(e, p, r) for e, p, r, _ in DEMO_LOGINS]
    )
