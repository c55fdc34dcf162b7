"""Customers and the store's orders. The portal records returns against an order; it never edits it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from portal.models.base import UTCDateTime, created_at_field, json_field, time_field


class Customer(SQLModel, table=True):
    __tablename__ = "customers"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320, unique=True)
    name: str = Field(default="", max_length=200)
    tags: list[str] = json_field(list)
    created_at: datetime = created_at_field()


class Order(SQLModel, table=True):
    __tablename__ = "orders"
    __table_args__ = (
        sa.CheckConstraint("total >= 0", name="total_not_negative"),
        sa.CheckConstraint("length(currency) = 3", name="currency_code"),
    )

    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(max_length=64, unique=True)
    email: str = Field(max_length=320, index=True)
    currency: str = Field(max_length=3)
    placed_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)
    fulfilled_at: datetime | None = time_field()
    delivered_at: datetime | None = time_field()
    total: int = 0
    tags: list[str] = json_field(list)
    customer_id: int | None = Field(default=None, foreign_key="customers.id", index=True)
    shipping_address: dict[str, Any] = json_field(dict)
    postal_code_key: str = Field(default="", max_length=32)
    payment_reference: str | None = Field(default=None, max_length=255)
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()


class OrderLine(SQLModel, table=True):
    """One line of an order; ``returned_quantity`` is what the store reports returned outside us."""

    __tablename__ = "order_lines"
    __table_args__ = (
        sa.UniqueConstraint("order_id", "line_ref"),
        sa.CheckConstraint("quantity > 0", name="quantity_positive"),
        sa.CheckConstraint("unit_price >= 0", name="unit_price_not_negative"),
        sa.CheckConstraint("discount >= 0", name="discount_not_negative"),
        sa.CheckConstraint(
            "returned_quantity >= 0 AND returned_quantity <= quantity",
            name="returned_within_ordered",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="orders.id", index=True)
    line_ref: str = Field(max_length=64)
    sku: str = Field(default="", max_length=120, index=True)
    title: str = Field(max_length=300)
    variant_title: str = Field(default="", max_length=200)
    product_type: str = Field(default="", max_length=120)
    vendor: str = Field(default="", max_length=120)
    tags: list[str] = json_field(list)
    quantity: int
    unit_price: int
    discount: int = 0
    returned_quantity: int = 0
    variant_id: int | None = Field(default=None, foreign_key="variants.id", index=True)
    image_url: str | None = Field(default=None, max_length=1000)
