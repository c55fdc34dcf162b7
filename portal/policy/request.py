"""The evaluation request: "now", the order (ingest-API shape) and the items asked for.

Parsing is hand-written over plain frozen dataclasses rather than pydantic because
the backtest replays hundreds of thousands of stored requests; it still collects
every problem into one `RequestError` so the caller sees all of them at once.
Tags are lower-cased once here, so the evaluator's hot path compares sets only.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "Customer",
    "EvaluationRequest",
    "Item",
    "Order",
    "OrderLine",
    "RequestError",
    "ShippingAddress",
    "parse_request",
    "parse_request_json",
]


class RequestError(ValueError):
    """The request does not validate; `problems` lists each problem as a sentence."""

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))


@dataclass(frozen=True, slots=True)
class OrderLine:
    """One line of the order as the store sent it; money in minor units."""

    id: str
    quantity: int
    unit_price: int
    discount: int = 0
    returned_quantity: int = 0
    sku: str = ""
    title: str = ""
    product_type: str = ""
    vendor: str = ""
    tags: tuple[str, ...] = ()
    tags_lower: frozenset[str] = field(default=frozenset(), compare=False, repr=False)
    product_type_lower: str = field(default="", compare=False, repr=False)
    vendor_lower: str = field(default="", compare=False, repr=False)

    def __post_init__(self) -> None:
        # Derived once here so the evaluator compares lower-case text only. The
        # fields are filled in when the caller left them empty (built in code).
        if not self.tags_lower and self.tags:
            object.__setattr__(self, "tags_lower", _lower(self.tags))
        if not self.product_type_lower and self.product_type:
            object.__setattr__(self, "product_type_lower", self.product_type.lower())
        if not self.vendor_lower and self.vendor:
            object.__setattr__(self, "vendor_lower", self.vendor.lower())


@dataclass(frozen=True, slots=True)
class Customer:
    """Who placed the order; tags drive review and customer rules."""

    email: str = ""
    tags: tuple[str, ...] = ()
    tags_lower: frozenset[str] = field(default=frozenset(), compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.tags_lower and self.tags:
            object.__setattr__(self, "tags_lower", _lower(self.tags))


@dataclass(frozen=True, slots=True)
class ShippingAddress:
    """Where the order went; only the country matters to the policy."""

    country: str = ""
    postal_code: str = ""


@dataclass(frozen=True, slots=True)
class Order:
    """The order being returned against."""

    number: str
    currency: str
    placed_at: datetime
    lines: tuple[OrderLine, ...]
    total: int
    email: str = ""
    fulfilled_at: datetime | None = None
    delivered_at: datetime | None = None
    tags: tuple[str, ...] = ()
    customer: Customer = Customer()
    shipping_address: ShippingAddress = ShippingAddress()
    tags_lower: frozenset[str] = field(default=frozenset(), compare=False, repr=False)
    lines_by_id: Mapping[str, OrderLine] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.tags_lower and self.tags:
            object.__setattr__(self, "tags_lower", _lower(self.tags))
        if not self.lines_by_id and self.lines:
            by_id: dict[str, OrderLine] = {}
            for line in self.lines:
                by_id.setdefault(line.id, line)
            object.__setattr__(self, "lines_by_id", by_id)


@dataclass(frozen=True, slots=True)
class Item:
    """One thing the shopper wants to send back."""

    line_id: str
    quantity: int
    reason: str


@dataclass(frozen=True, slots=True)
class EvaluationRequest:
    """Everything the evaluator needs; `as_of` is its only notion of "now"."""

    as_of: datetime
    order: Order
    items: tuple[Item, ...]


# ---------------------------------------------------------------------------


class _Problems:
    """Collects problems with their JSON path so all are reported together."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.items.append(f"{path} {message}" if path else message)


_MISSING = object()


def _text(src: Mapping[str, Any], key: str, path: str, p: _Problems, *, required: bool) -> str:
    value = src.get(key, _MISSING)
    if value is _MISSING or value is None:
        if required:
            p.add(f"{path}{key}", "is required")
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        p.add(f"{path}{key}", "must be text")
        return ""
    return str(value)


def _int(
    src: Mapping[str, Any], key: str, path: str, p: _Problems, *, default: int | None, minimum: int
) -> int:
    value = src.get(key, _MISSING)
    if value is _MISSING or value is None:
        if default is None:
            p.add(f"{path}{key}", "is required")
            return 0
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        p.add(f"{path}{key}", f"must be a whole number, not {json.dumps(value)}")
        return 0
    if value < minimum:
        p.add(f"{path}{key}", f"must be at least {minimum} (got {value})")
    return value


def _timestamp(
    src: Mapping[str, Any], key: str, path: str, p: _Problems, *, required: bool
) -> datetime | None:
    value = src.get(key)
    if value is None:
        if required:
            p.add(f"{path}{key}", "is required")
        return None
    if not isinstance(value, str):
        p.add(f"{path}{key}", "must be an ISO 8601 timestamp")
        return None
    try:
        stamp = datetime.fromisoformat(value)
    except ValueError:
        p.add(f"{path}{key}", f"is not an ISO 8601 timestamp: {value!r}")
        return None
    # A timestamp without an offset is taken as UTC, which is what stores send.
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC)


def _tags(src: Mapping[str, Any], key: str, path: str, p: _Problems) -> tuple[str, ...]:
    value = src.get(key)
    if value is None:
        return ()
    if isinstance(value, str):
        # Shopify-style "a, b, c" is accepted as well as a JSON list.
        return tuple(t.strip() for t in value.split(",") if t.strip())
    if isinstance(value, list) and all(isinstance(t, str) for t in value):
        return tuple(value)
    p.add(f"{path}{key}", "must be a list of tags")
    return ()


def _mapping(value: Any, path: str, p: _Problems, *, required: bool) -> Mapping[str, Any]:
    if value is None:
        if required:
            p.add(path, "is required")
        return {}
    if not isinstance(value, Mapping):
        p.add(path, "must be an object")
        return {}
    return value


def _lower(tags: Iterable[str]) -> frozenset[str]:
    return frozenset(t.lower() for t in tags)


def _line(src: Any, path: str, p: _Problems) -> OrderLine | None:
    if not isinstance(src, Mapping):
        p.add(path, "must be an object")
        return None
    path += "."
    tags = _tags(src, "tags", path, p)
    product_type = _text(src, "product_type", path, p, required=False)
    vendor = _text(src, "vendor", path, p, required=False)
    return OrderLine(
        id=_text(src, "id", path, p, required=True),
        quantity=_int(src, "quantity", path, p, default=None, minimum=0),
        unit_price=_int(src, "unit_price", path, p, default=None, minimum=0),
        discount=_int(src, "discount", path, p, default=0, minimum=0),
        returned_quantity=_int(src, "returned_quantity", path, p, default=0, minimum=0),
        sku=_text(src, "sku", path, p, required=False),
        title=_text(src, "title", path, p, required=False),
        product_type=product_type,
        vendor=vendor,
        tags=tags,
        tags_lower=_lower(tags),
        product_type_lower=product_type.lower(),
        vendor_lower=vendor.lower(),
    )


def _order(src: Mapping[str, Any], p: _Problems) -> Order | None:
    path = "order."
    raw_lines = src.get("lines")
    lines: list[OrderLine] = []
    if not isinstance(raw_lines, list) or not raw_lines:
        p.add("order.lines", "must be a non-empty list of order lines")
    else:
        for index, raw in enumerate(raw_lines):
            line = _line(raw, f"order.lines[{index}]", p)
            if line is not None:
                lines.append(line)
    by_id: dict[str, OrderLine] = {}
    for index, line in enumerate(lines):
        if line.id in by_id:
            p.add(f"order.lines[{index}].id", f"repeats the line id {line.id!r}")
        by_id.setdefault(line.id, line)

    currency = _text(src, "currency", path, p, required=True).upper()
    placed_at = _timestamp(src, "placed_at", path, p, required=True)
    customer_src = _mapping(src.get("customer"), "order.customer", p, required=False)
    customer_tags = _tags(customer_src, "tags", "order.customer.", p)
    address_src = _mapping(src.get("shipping_address"), "order.shipping_address", p, required=False)
    tags = _tags(src, "tags", path, p)
    if "total" in src and src["total"] is not None:
        total = _int(src, "total", path, p, default=0, minimum=0)
    else:
        # Not every importer sends a total; what was paid for the lines is the best stand-in.
        total = sum(max(0, li.unit_price * li.quantity - li.discount) for li in lines)
    if placed_at is None:
        return None
    return Order(
        number=_text(src, "number", path, p, required=False),
        email=_text(src, "email", path, p, required=False),
        currency=currency,
        placed_at=placed_at,
        fulfilled_at=_timestamp(src, "fulfilled_at", path, p, required=False),
        delivered_at=_timestamp(src, "delivered_at", path, p, required=False),
        total=total,
        tags=tags,
        tags_lower=_lower(tags),
        customer=Customer(
            email=_text(customer_src, "email", "order.customer.", p, required=False),
            tags=customer_tags,
            tags_lower=_lower(customer_tags),
        ),
        shipping_address=ShippingAddress(
            country=_text(address_src, "country", "order.shipping_address.", p, required=False)
            .strip()
            .upper(),
            postal_code=_text(
                address_src, "postal_code", "order.shipping_address.", p, required=False
            ),
        ),
        lines=tuple(lines),
        lines_by_id=by_id,
    )


def parse_request(data: Any, reason_codes: Iterable[str] | None = None) -> EvaluationRequest:
    """Validate a request decoded from JSON; raises RequestError listing every problem.

    Pass the policy's `reason_codes` to also reject unknown reasons here (the
    evaluator checks them again, since only it is sure to know the policy).
    """
    p = _Problems()
    if not isinstance(data, Mapping):
        raise RequestError("the request must be a JSON object with as_of, order and items")
    as_of = _timestamp(data, "as_of", "", p, required=True)
    order_src = _mapping(data.get("order"), "order", p, required=True)
    order = _order(order_src, p) if order_src else None

    items: list[Item] = []
    raw_items = data.get("items")
    known = set(reason_codes) if reason_codes is not None else None
    if not isinstance(raw_items, list) or not raw_items:
        p.add("items", "must be a non-empty list of {line_id, quantity, reason}")
        raw_items = []
    for index, raw in enumerate(raw_items):
        path = f"items[{index}]"
        if not isinstance(raw, Mapping):
            p.add(path, "must be an object")
            continue
        line_id = _text(raw, "line_id", path + ".", p, required=True)
        quantity = _int(raw, "quantity", path + ".", p, default=None, minimum=1)
        reason = _text(raw, "reason", path + ".", p, required=True)
        if order is not None and line_id and line_id not in order.lines_by_id:
            ids = ", ".join(order.lines_by_id) or "none"
            p.add(f"{path}.line_id", f"{line_id!r} is not a line of this order (lines: {ids})")
        if known is not None and reason and reason not in known:
            p.add(
                f"{path}.reason",
                f"{reason!r} is not a reason this policy knows (use one of: "
                f"{', '.join(sorted(known))})",
            )
        items.append(Item(line_id=line_id, quantity=quantity, reason=reason))

    if p.items or as_of is None or order is None:
        raise RequestError(p.items or ["the request is incomplete"])
    return EvaluationRequest(as_of=as_of, order=order, items=tuple(items))


def parse_request_json(text: str, reason_codes: Iterable[str] | None = None) -> EvaluationRequest:
    """Parse a JSON request document (as given to `portal policy evaluate`)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RequestError(
            f"the request is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    return parse_request(data, reason_codes)
