"""Builders for policies and requests used across the policy tests.

Policies are written as YAML text (what merchants write), so every test also
exercises the loader; requests are plain dicts in the ingest-API shape.
"""

from __future__ import annotations

import copy
import textwrap
from typing import Any

from portal.policy.evaluator import CompiledPolicy, compile_policy_text, evaluate
from portal.policy.request import parse_request

BASE_POLICY = """\
name: Test policy
currency: USD
reasons:
  - {code: too_small, label: Too small}
  - {code: changed_mind, label: Changed my mind}
  - {code: damaged, label: Damaged, fault: merchant, requires_photo: true}
warehouses:
  main: {name: Main, address: 1 Main St}
  east: {name: East, address: 2 East St}
"""


def policy(extra: str = "", base: str = BASE_POLICY) -> CompiledPolicy:
    """Compile BASE_POLICY plus extra top-level YAML (e.g. a `rules:` block)."""
    return compile_policy_text(base + textwrap.dedent(extra), "test.yaml")


def rules(block: str, extra: str = "") -> CompiledPolicy:
    """A policy with the given `rules:` list (indented YAML items) and extra keys."""
    return policy(
        textwrap.dedent(extra) + "rules:\n" + textwrap.indent(textwrap.dedent(block), "  ")
    )


def line(line_id: str = "L1", **overrides: Any) -> dict[str, Any]:
    """An order line; defaults: one $25.00 shirt, no discount, nothing returned yet."""
    data: dict[str, Any] = {
        "id": line_id,
        "sku": "SHIRT-1",
        "title": "Shirt",
        "product_type": "Shirt",
        "vendor": "Acme",
        "tags": [],
        "quantity": 1,
        "unit_price": 2500,
        "discount": 0,
        "returned_quantity": 0,
    }
    data.update(overrides)
    return data


def request(
    lines: list[dict[str, Any]] | None = None,
    items: list[dict[str, Any]] | None = None,
    *,
    as_of: str = "2025-06-10T12:00:00Z",
    **order: Any,
) -> dict[str, Any]:
    """A request dict; items default to one unit of each line for `too_small`."""
    lines = lines if lines is not None else [line()]
    data: dict[str, Any] = {
        "number": "1001",
        "email": "shopper@example.com",
        "currency": "USD",
        "placed_at": "2025-06-01T12:00:00Z",
        "fulfilled_at": "2025-06-02T12:00:00Z",
        "delivered_at": "2025-06-04T12:00:00Z",
        "total": sum(li["unit_price"] * li["quantity"] - li["discount"] for li in lines),
        "tags": [],
        "customer": {"email": "shopper@example.com", "tags": []},
        "shipping_address": {"country": "US", "postal_code": "10001"},
        "lines": lines,
    }
    data.update(order)
    if items is None:
        items = [{"line_id": li["id"], "quantity": 1, "reason": "too_small"} for li in lines]
    return {"as_of": as_of, "order": data, "items": items}


def decide(compiled: CompiledPolicy, req: dict[str, Any]) -> dict[str, Any]:
    """Evaluate and return the JSON-shaped decision."""
    return evaluate(compiled, parse_request(copy.deepcopy(req))).to_dict()


def first_line(compiled: CompiledPolicy, req: dict[str, Any]) -> dict[str, Any]:
    """The decision for the first requested item."""
    return decide(compiled, req)["lines"][0]
