"""Products and variants, with the stock that exchanges draw on."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from portal.models.base import created_at_field, json_field


class Product(SQLModel, table=True):
    __tablename__ = "products"

    id: int | None = Field(default=None, primary_key=True)
    handle: str = Field(max_length=200, unique=True)
    title: str = Field(max_length=300)
    product_type: str = Field(default="", max_length=120)
    vendor: str = Field(default="", max_length=120)
    tags: list[str] = json_field(list)
    image_url: str | None = Field(default=None, max_length=1000)
    created_at: datetime = created_at_field()


class Variant(SQLModel, table=True):
    """A sellable variant. Stock reserved for exchanges can never exceed stock on hand."""

    __tablename__ = "variants"
    __table_args__ = (
        sa.CheckConstraint("price >= 0", name="price_not_negative"),
        sa.CheckConstraint("stock_on_hand >= 0", name="stock_not_negative"),
        sa.CheckConstraint("stock_reserved >= 0", name="reserved_not_negative"),
        sa.CheckConstraint("stock_reserved <= stock_on_hand", name="reserved_within_stock"),
    )

    id: int | None = Field(default=None, primary_key=True)
    product_id: int = Field(foreign_key="products.id", index=True)
    sku: str = Field(max_length=120, unique=True)
    title: str = Field(default="", max_length=200)
    options: dict[str, str] = json_field(dict)
    price: int = 0
    stock_on_hand: int = 0
    stock_reserved: int = 0
    image_url: str | None = Field(default=None, max_length=1000)
