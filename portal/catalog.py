"""Products and variants pushed by the store; stock is what exchanges can draw on."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, model_validator
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.audit import record
from portal.models.base import id_of
from portal.models.catalog import Product, Variant
from portal.orders import FieldError, ImageUrl, IngestError, _errors_from


class VariantIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    sku: str = Field(min_length=1, max_length=120)
    title: str = Field(default="", max_length=200)
    options: dict[str, str] = Field(default_factory=dict)
    price: StrictInt = Field(ge=0)
    stock: StrictInt = Field(ge=0, description="units on hand")
    image_url: ImageUrl = None


class ProductIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    handle: str = Field(min_length=1, max_length=200)
    title: str = Field(min_length=1, max_length=300)
    product_type: str = Field(default="", max_length=120)
    vendor: str = Field(default="", max_length=120)
    tags: list[str] = Field(default_factory=list)
    image_url: ImageUrl = None
    variants: list[VariantIn] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_skus(self) -> ProductIn:
        skus = [v.sku for v in self.variants]
        for index, sku in enumerate(skus):
            if skus.index(sku) != index:
                raise ValueError(f"variants[{index}].sku: duplicate sku {sku!r}")
        return self


def parse_products(data: Any) -> list[ProductIn]:
    items = data.get("products") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise IngestError([FieldError("products", "expected a list of products")])
    parsed, errors = [], []
    for index, item in enumerate(items):
        try:
            parsed.append(ProductIn.model_validate(item))
        except ValidationError as exc:
            errors += [
                FieldError(f"products[{index}].{e.field}", e.message) for e in _errors_from(exc)
            ]
    if errors:
        raise IngestError(errors)
    return parsed


async def upsert_products(session: AsyncSession, products: list[ProductIn], actor: str) -> int:
    """Create or update products and variants by handle and SKU, all in one transaction.

    Stock on hand is set to what the store says; it may not drop below what exchanges
    have already reserved (the database refuses, and the whole push is rolled back).
    """
    try:
        for incoming in products:
            product = (
                await session.exec(select(Product).where(Product.handle == incoming.handle))
            ).first() or Product(handle=incoming.handle, title=incoming.title)
            product.title = incoming.title
            product.product_type = incoming.product_type
            product.vendor = incoming.vendor
            product.tags = incoming.tags
            product.image_url = incoming.image_url
            session.add(product)
            await session.flush()
            product_id = id_of(product)
            for v in incoming.variants:
                variant = (
                    await session.exec(select(Variant).where(Variant.sku == v.sku))
                ).first() or Variant(product_id=product_id, sku=v.sku)
                if variant.stock_reserved > v.stock:
                    raise IngestError(
                        [
                            FieldError(
                                f"{incoming.handle}.{v.sku}.stock",
                                f"{variant.stock_reserved} units are reserved for exchanges; "
                                f"stock cannot be set to {v.stock}",
                            )
                        ]
                    )
                variant.product_id = product_id
                variant.title = v.title
                variant.options = v.options
                variant.price = v.price
                variant.stock_on_hand = v.stock
                variant.image_url = v.image_url
                session.add(variant)
            await session.flush()
            await record(
                session, actor, "product", product.id, "upserted", data={"handle": product.handle}
            )
        await session.commit()
    except Exception:
        await session.rollback()
        raise
    return len(products)
