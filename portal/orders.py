"""Orders in: the ingest schema, idempotent upsert by order number, JSON and CSV import.

The store owns its orders; the portal keeps a copy to decide returns against. A bad
import row is reported by number and column, and nothing of a bad import is written.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.audit import record
from portal.errors import Invalid
from portal.mailboxes import one_mailbox
from portal.models.base import id_of, utcnow
from portal.models.catalog import Variant
from portal.models.orders import Customer, Order, OrderLine
from portal.models.returns import ReturnLine
from portal.money.currency import is_known_currency

MAX_MINOR_UNITS = 2**31 - 1
"""The largest amount an order may carry (minor units): what its INTEGER columns hold."""
MAX_QUANTITY = 1_000_000
"""The most units one order line may have."""

Money = Annotated[StrictInt, Field(ge=0, le=MAX_MINOR_UNITS, description="minor units, e.g. cents")]


def _https_image(value: str | None) -> str | None:
    """Only an absolute https URL (or nothing) may be shown to shoppers as an image."""
    if not value:
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        parts = None
    if (
        parts is None
        or parts.scheme.lower() != "https"
        or not parts.hostname
        or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in value)
    ):
        raise ValueError("must be an https:// image URL (or empty)")
    return value


ImageUrl = Annotated[
    str | None,
    Field(max_length=1000, description="an https:// image URL"),
    AfterValidator(_https_image),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CustomerIn(_Strict):
    email: str = Field(min_length=3, max_length=320)
    name: str = Field(default="", max_length=200)
    tags: list[str] = Field(default_factory=list)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return one_mailbox(value)


class AddressIn(_Strict):
    country: str = Field(min_length=2, max_length=2, description="ISO 3166-1 alpha-2")
    postal_code: str = Field(default="", max_length=32)
    name: str = Field(default="", max_length=200)
    company: str = Field(default="", max_length=200)
    street1: str = Field(default="", max_length=300)
    street2: str = Field(default="", max_length=300)
    city: str = Field(default="", max_length=120)
    state: str = Field(default="", max_length=120)
    phone: str = Field(default="", max_length=40)

    @field_validator("country")
    @classmethod
    def _country(cls, value: str) -> str:
        if not value.isalpha():
            raise ValueError("must be a two-letter ISO country code such as US or DE")
        return value.upper()


class LineIn(_Strict):
    id: str = Field(min_length=1, max_length=64)
    sku: str = Field(default="", max_length=120)
    title: str = Field(min_length=1, max_length=300)
    variant_title: str = Field(default="", max_length=200)
    product_type: str = Field(default="", max_length=120)
    vendor: str = Field(default="", max_length=120)
    tags: list[str] = Field(default_factory=list)
    quantity: StrictInt = Field(ge=1, le=MAX_QUANTITY)
    unit_price: Money
    discount: Money = 0
    returned_quantity: StrictInt = Field(default=0, ge=0, le=MAX_QUANTITY)
    image_url: ImageUrl = None

    @model_validator(mode="after")
    def _consistent(self) -> LineIn:
        if self.returned_quantity > self.quantity:
            raise ValueError("returned_quantity cannot exceed quantity")
        if self.unit_price * self.quantity > MAX_MINOR_UNITS:
            raise ValueError(f"unit_price × quantity must be at most {MAX_MINOR_UNITS}")
        if self.discount > self.unit_price * self.quantity:
            raise ValueError("discount cannot exceed unit_price × quantity")
        return self


class OrderIn(_Strict):
    number: str = Field(min_length=1, max_length=64)
    email: str = Field(min_length=3, max_length=320)
    currency: str
    placed_at: AwareDatetime
    fulfilled_at: AwareDatetime | None = None
    delivered_at: AwareDatetime | None = None
    total: Money
    tags: list[str] = Field(default_factory=list)
    customer: CustomerIn | None = None
    shipping_address: AddressIn
    lines: list[LineIn] = Field(min_length=1)
    payment_reference: str | None = Field(default=None, max_length=255)

    @field_validator("number")
    @classmethod
    def _number(cls, value: str) -> str:
        return normalise_order_number(value)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return one_mailbox(value)  # NotOneMailbox is a ValueError: a field error

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        if not is_known_currency(value):
            raise ValueError(f"unknown currency {value!r}; use an ISO 4217 code such as USD")
        return value

    @model_validator(mode="after")
    def _unique_lines(self) -> OrderIn:
        seen: set[str] = set()
        for index, line in enumerate(self.lines):
            if line.id in seen:
                raise ValueError(f"lines[{index}].id: duplicate line id {line.id!r}")
            seen.add(line.id)
        return self


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str
    row: int | None = None

    def __str__(self) -> str:
        where = f"row {self.row}, " if self.row is not None else ""
        return f"{where}{self.field}: {self.message}"


class IngestError(Invalid):
    """The input does not validate; ``errors`` names every field (and row) at fault.
    The API answers 422 with each of them."""

    status_code = 422

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors

    def as_json(self) -> dict[str, Any]:
        return {
            "detail": "The request did not validate.",
            "errors": [
                {"field": e.field, "message": e.message, **({"row": e.row} if e.row else {})}
                for e in self.errors
            ],
        }


def normalise_order_number(value: str) -> str:
    """Shoppers type ``#1001``, `` 1001 `` or ``ab-1001``; they all mean ``AB-1001``."""
    return value.strip().lstrip("#").strip().upper()


def normalise_postal_code(value: str) -> str:
    return re.sub(r"[\s-]", "", value).upper()


def _loc(loc: Iterable[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "order"


def _errors_from(exc: ValidationError) -> list[FieldError]:
    errors = []
    for err in exc.errors():
        message = err["msg"].removeprefix("Value error, ")
        field = _loc(err["loc"])
        if message.startswith("lines[") and ": " in message:
            field, message = message.split(": ", 1)
        if err["type"] == "extra_forbidden":
            message = "unknown field"
        errors.append(FieldError(field, message))
    return errors


def parse_order(data: Any) -> OrderIn:
    """Validate one order payload, raising ``IngestError`` with every field at fault."""
    if not isinstance(data, dict):
        raise IngestError([FieldError("order", "must be a JSON object")])
    try:
        return OrderIn.model_validate(data)
    except ValidationError as exc:
        raise IngestError(_errors_from(exc)) from None


@dataclass(frozen=True)
class UpsertResult:
    order: Order
    created: bool


async def upsert_order(session: AsyncSession, incoming: OrderIn, actor: str) -> UpsertResult:
    """Create or update an order by number, in the caller's transaction (no commit)."""
    customer = None
    customer_email = (incoming.customer.email if incoming.customer else incoming.email).lower()
    customer = (
        await session.exec(select(Customer).where(Customer.email == customer_email))
    ).first()
    if customer is None:
        customer = Customer(email=customer_email)
    if incoming.customer:
        customer.name = incoming.customer.name or customer.name
        customer.tags = incoming.customer.tags
    if not customer.name:
        customer.name = incoming.shipping_address.name
    session.add(customer)
    await session.flush()

    order = (await session.exec(select(Order).where(Order.number == incoming.number))).first()
    created = order is None
    if order is None:
        order = Order(
            number=incoming.number,
            email=incoming.email,
            currency=incoming.currency,
            placed_at=incoming.placed_at,
        )
    order.email = incoming.email
    order.currency = incoming.currency
    order.placed_at = incoming.placed_at
    order.fulfilled_at = incoming.fulfilled_at
    order.delivered_at = incoming.delivered_at
    order.total = incoming.total
    order.tags = incoming.tags
    order.customer_id = customer.id
    order.shipping_address = incoming.shipping_address.model_dump()
    order.postal_code_key = normalise_postal_code(incoming.shipping_address.postal_code)
    order.payment_reference = incoming.payment_reference
    order.updated_at = utcnow()
    session.add(order)
    await session.flush()

    existing = {
        line.line_ref: line
        for line in (
            await session.exec(select(OrderLine).where(OrderLine.order_id == order.id))
        ).all()
    }
    skus = [line.sku for line in incoming.lines if line.sku]
    variants = (
        {
            v.sku: v.id
            for v in (await session.exec(select(Variant).where(col(Variant.sku).in_(skus)))).all()
        }
        if skus
        else {}
    )
    for line in incoming.lines:
        row = existing.pop(line.id, None) or OrderLine(
            order_id=id_of(order),
            line_ref=line.id,
            title=line.title,
            quantity=line.quantity,
            unit_price=line.unit_price,
        )
        row.sku = line.sku
        row.title = line.title
        row.variant_title = line.variant_title
        row.product_type = line.product_type
        row.vendor = line.vendor
        row.tags = line.tags
        row.quantity = line.quantity
        row.unit_price = line.unit_price
        row.discount = line.discount
        row.returned_quantity = line.returned_quantity
        row.image_url = line.image_url
        row.variant_id = variants.get(line.sku)
        session.add(row)
    for stale in existing.values():
        in_use = (
            await session.exec(select(ReturnLine.id).where(ReturnLine.order_line_id == stale.id))
        ).first()
        if in_use is not None:
            raise IngestError(
                [FieldError("lines", f"line {stale.line_ref!r} has a return and cannot be removed")]
            )
        await session.delete(stale)
    await session.flush()
    await record(
        session,
        actor,
        "order",
        order.id,
        "created" if created else "updated",
        data={"number": order.number},
    )
    return UpsertResult(order=order, created=created)


# --- Files ---------------------------------------------------------------------------------

CSV_ORDER_COLUMNS = {
    "order_number": "number",
    "email": "email",
    "currency": "currency",
    "placed_at": "placed_at",
    "fulfilled_at": "fulfilled_at",
    "delivered_at": "delivered_at",
    "order_total": "total",
    "order_tags": "tags",
    "payment_reference": "payment_reference",
}
CSV_CUSTOMER_COLUMNS = {"customer_email": "email", "customer_name": "name", "customer_tags": "tags"}
CSV_ADDRESS_COLUMNS = {
    f"ship_{name}": name
    for name in (
        "name",
        "company",
        "street1",
        "street2",
        "city",
        "state",
        "postal_code",
        "country",
        "phone",
    )
}
CSV_LINE_COLUMNS = {
    "line_id": "id",
    "sku": "sku",
    "title": "title",
    "variant_title": "variant_title",
    "product_type": "product_type",
    "vendor": "vendor",
    "line_tags": "tags",
    "quantity": "quantity",
    "unit_price": "unit_price",
    "discount": "discount",
    "returned_quantity": "returned_quantity",
    "image_url": "image_url",
}
_INT_FIELDS = {"total", "quantity", "unit_price", "discount", "returned_quantity"}
_REQUIRED_CSV = {
    "order_number",
    "email",
    "currency",
    "placed_at",
    "order_total",
    "ship_country",
    "line_id",
    "title",
    "quantity",
    "unit_price",
}


def _csv_value(field: str, raw: str) -> Any:
    raw = raw.strip()
    if field == "tags":
        return [t.strip() for t in raw.replace(";", ",").split(",") if t.strip()]
    if raw == "":
        return None
    if field in _INT_FIELDS:
        try:
            return int(raw)
        except ValueError:
            return raw  # left for the schema to reject with its own message
    return raw


def parse_csv(text: str) -> list[OrderIn]:
    """One row per order line; rows of one order share its number. Errors name row and column."""
    reader = csv.DictReader(io.StringIO(text))
    header = set(reader.fieldnames or [])
    known = (
        set(CSV_ORDER_COLUMNS)
        | set(CSV_CUSTOMER_COLUMNS)
        | set(CSV_ADDRESS_COLUMNS)
        | set(CSV_LINE_COLUMNS)
    )
    errors = [FieldError(col, "unknown column", row=1) for col in sorted(header - known)]
    errors += [FieldError(col, "missing column", row=1) for col in sorted(_REQUIRED_CSV - header)]
    if errors:
        raise IngestError(errors)

    grouped: dict[str, tuple[dict[str, Any], list[int]]] = {}
    for row_number, row in enumerate(reader, start=2):
        key = normalise_order_number(row.get("order_number") or "") or f"__row{row_number}"
        if key not in grouped:
            order: dict[str, Any] = {}
            for col, field in CSV_ORDER_COLUMNS.items():
                if col in row and (value := _csv_value(field, row[col] or "")) is not None:
                    order[field] = value
            customer = {
                field: value
                for col, field in CSV_CUSTOMER_COLUMNS.items()
                if col in row and (value := _csv_value(field, row[col] or "")) is not None
            }
            if customer.get("email"):
                order["customer"] = customer
            order["shipping_address"] = {
                field: value
                for col, field in CSV_ADDRESS_COLUMNS.items()
                if col in row and (value := _csv_value(field, row[col] or "")) is not None
            }
            order["lines"] = []
            grouped[key] = (order, [])
        order, rows = grouped[key]
        order["lines"].append(
            {
                field: value
                for col, field in CSV_LINE_COLUMNS.items()
                if col in row and (value := _csv_value(field, row[col] or "")) is not None
            }
        )
        rows.append(row_number)

    reverse = {
        **{v: k for k, v in CSV_ORDER_COLUMNS.items()},
    }
    parsed: list[OrderIn] = []
    for order, rows in grouped.values():
        try:
            parsed.append(parse_order(order))
        except IngestError as exc:
            for err in exc.errors:
                errors.append(_csv_error(err, rows, reverse))
    if errors:
        raise IngestError(sorted(errors, key=lambda e: (e.row or 0, e.field)))
    return parsed


def _csv_error(err: FieldError, rows: list[int], order_columns: dict[str, str]) -> FieldError:
    """Map a schema error back to the CSV row and column a person can find."""
    match = re.match(r"lines\[(\d+)\](?:\.(\w+))?", err.field)
    if match:
        index, field = int(match.group(1)), match.group(2)
        column = next((c for c, f in CSV_LINE_COLUMNS.items() if f == field), "line")
        return FieldError(column, err.message, row=rows[index])
    head, _, rest = err.field.partition(".")
    if head == "shipping_address":
        return FieldError(f"ship_{rest}" if rest else "ship_country", err.message, row=rows[0])
    if head == "customer":
        return FieldError(
            f"customer_{rest}" if rest else "customer_email", err.message, row=rows[0]
        )
    return FieldError(order_columns.get(head, head), err.message, row=rows[0])


def parse_json_file(text: str) -> list[OrderIn]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise IngestError([FieldError("file", f"not valid JSON: {exc}")]) from None
    except RecursionError:
        raise IngestError([FieldError("file", "not valid JSON: nested too deeply")]) from None
    items = (
        data if isinstance(data, list) else data.get("orders") if isinstance(data, dict) else None
    )
    if not isinstance(items, list):
        raise IngestError([FieldError("file", 'expected a list of orders or {"orders": [...]}')])
    parsed, errors = [], []
    for index, item in enumerate(items):
        try:
            parsed.append(parse_order(item))
        except IngestError as exc:
            errors += [FieldError(e.field, e.message, row=index + 1) for e in exc.errors]
    if errors:
        raise IngestError(errors)
    return parsed


def parse_order_file(path: Path) -> list[OrderIn]:
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".csv":
        return parse_csv(text)
    return parse_json_file(text)


async def import_orders(
    session: AsyncSession, orders: list[OrderIn], actor: str
) -> tuple[int, int]:
    """All or nothing: every order is upserted in one transaction. Returns (created, updated)."""
    numbers = [o.number for o in orders]
    duplicates = sorted({n for n in numbers if numbers.count(n) > 1})
    if duplicates:
        raise IngestError([FieldError("number", f"order {n} appears twice") for n in duplicates])
    created = updated = 0
    try:
        for incoming in orders:
            result = await upsert_order(session, incoming, actor)
            created += result.created
            updated += not result.created
        await session.commit()
    except Exception:
        await session.rollback()
        raise
    return created, updated


def order_to_policy_shape(
    order: Order, lines: list[OrderLine], customer: Customer | None
) -> dict[str, Any]:
    """The order as the policy evaluator's request expects it (POLICY.md's ingest shape)."""

    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "number": order.number,
        "email": order.email,
        "currency": order.currency,
        "placed_at": iso(order.placed_at),
        "fulfilled_at": iso(order.fulfilled_at),
        "delivered_at": iso(order.delivered_at),
        "total": order.total,
        "tags": list(order.tags),
        "customer": {
            "email": customer.email if customer else order.email,
            "tags": list(customer.tags) if customer else [],
        },
        "shipping_address": dict(order.shipping_address),
        "lines": [
            {
                "id": line.line_ref,
                "sku": line.sku,
                "title": line.title,
                "product_type": line.product_type,
                "vendor": line.vendor,
                "tags": list(line.tags),
                "quantity": line.quantity,
                "unit_price": line.unit_price,
                "discount": line.discount,
                "returned_quantity": line.returned_quantity,
            }
            for line in lines
        ],
    }
