"""What a shopper's order looks like to the returns domain: its lines, what is still
returnable, the active policy, and what the policy says about each line before the shopper
has chosen anything. Read-only; nothing here writes."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.models.base import id_of, utcnow
from portal.models.catalog import Variant
from portal.models.orders import Customer, Order, OrderLine
from portal.models.policy import PolicyVersion
from portal.models.returns import RETURN_CLOSED_WITHOUT_RESOLUTION, Return, ReturnLine
from portal.orders import normalise_order_number, normalise_postal_code, order_to_policy_shape
from portal.policy import CompiledPolicy, EvaluationRequest, evaluate, parse_request
from portal.policy.evaluator import LineDecision
from portal.policy.request import Item
from portal.policy.versions import compiled as compile_cached

# Compiled policies by the SHA-256 of their text: every replica derives the same thing from
# the same text, so this is a cache, not state. (Ids are not used as keys: a database that
# is reset may give a new version an old id.)
_compiled_by_sha: dict[str, CompiledPolicy] = {}


@dataclass(frozen=True, slots=True)
class PolicyRef:
    """The active policy version, compiled."""

    id: int
    version: int
    sha256: str
    compiled: CompiledPolicy

    @property
    def policy(self) -> Any:
        return self.compiled.policy


async def active_policy_ref(session: AsyncSession) -> PolicyRef | None:
    """The active version, compiled once per process and version."""
    row = (
        await session.exec(
            select(PolicyVersion.id, PolicyVersion.version, PolicyVersion.sha256).where(
                PolicyVersion.active
            )
        )
    ).first()
    if row is None or row[0] is None:  # (a primary key is never NULL; SQLModel types it so)
        return None
    return await policy_ref(session, row[0], row[1], row[2])


async def policy_ref(
    session: AsyncSession, version_id: int, number: int | None = None, sha: str | None = None
) -> PolicyRef:
    """A stored version (active or not), compiled once per process and policy text."""
    if number is None or sha is None:
        row = (
            await session.exec(
                select(PolicyVersion.version, PolicyVersion.sha256).where(
                    PolicyVersion.id == version_id
                )
            )
        ).first()
        if row is None:
            raise LookupError(f"policy version {version_id} does not exist")
        number, sha = row
    hit = _compiled_by_sha.get(sha)
    if hit is None:
        text = (
            await session.exec(
                select(PolicyVersion.yaml_text).where(PolicyVersion.id == version_id)
            )
        ).one()
        hit = compile_cached(text, f"v{number}")
        if len(_compiled_by_sha) > 64:
            _compiled_by_sha.clear()
        _compiled_by_sha[sha] = hit
    return PolicyRef(id=version_id, version=number, sha256=sha, compiled=hit)


@dataclass
class OrderContext:
    """One order with everything the return pages and rules need."""

    order: Order
    customer: Customer | None
    lines: list[OrderLine]
    in_returns: dict[int, int]
    policy: PolicyRef | None
    returns_count: int = 0
    _shape: dict[str, Any] | None = field(default=None, repr=False)
    _parsed: EvaluationRequest | None = field(default=None, repr=False)

    def line(self, line_id: int) -> OrderLine | None:
        return next((line for line in self.lines if line.id == line_id), None)

    def returnable(self, line: OrderLine) -> int:
        """Units the shopper may still send back: ordered, less returned, less in our returns."""
        return max(0, line.quantity - line.returned_quantity - self.in_returns.get(id_of(line), 0))

    def order_shape(self) -> dict[str, Any]:
        """The order as the evaluator sees it; units in our open returns count as returned."""
        if self._shape is None:
            shape = order_to_policy_shape(self.order, self.lines, self.customer)
            for raw, line in zip(shape["lines"], self.lines, strict=True):
                raw["returned_quantity"] = min(
                    line.quantity, line.returned_quantity + self.in_returns.get(id_of(line), 0)
                )
            self._shape = shape
        return self._shape

    def request(self, items: Iterable[Item], as_of: datetime) -> EvaluationRequest:
        """An evaluation request for ``items`` (the order is parsed once per context)."""
        if self._parsed is None:
            first = self.lines[0].line_ref
            self._parsed = parse_request(
                {
                    "as_of": as_of.isoformat(),
                    "order": self.order_shape(),
                    "items": [{"line_id": first, "quantity": 1, "reason": "-"}],
                }
            )
        return dataclasses.replace(self._parsed, as_of=as_of, items=tuple(items))


def _order_query() -> Any:
    """Built once: the order, its customer, the active policy and how many returns it has."""
    order_id: sa.BindParameter[int] = sa.bindparam("order_id")
    active = col(PolicyVersion.active)
    return (
        sa.select(
            Order,
            Customer,
            select(PolicyVersion.id).where(active).scalar_subquery(),
            select(PolicyVersion.version).where(active).scalar_subquery(),
            select(PolicyVersion.sha256).where(active).scalar_subquery(),
            select(sa.func.count(col(Return.id)))
            .where(Return.order_id == order_id)
            .scalar_subquery(),
        )
        .join(Customer, col(Customer.id) == Order.customer_id, isouter=True)
        .where(col(Order.id) == order_id)
    )


def _lines_query() -> Any:
    """Built once: the order's lines, each with the units already in live returns."""
    live = (
        select(sa.func.coalesce(sa.func.sum(ReturnLine.quantity), 0))
        .join(Return, col(Return.id) == ReturnLine.return_id)
        .where(
            ReturnLine.order_line_id == OrderLine.id,
            col(Return.status).not_in(RETURN_CLOSED_WITHOUT_RESOLUTION),
        )
        .scalar_subquery()
    )
    return (
        select(OrderLine, live)
        .where(OrderLine.order_id == sa.bindparam("order_id"))
        .order_by(col(OrderLine.id))
    )


_ORDER_QUERY = _order_query()
_LINES_QUERY = _lines_query()


async def load_order_context(session: AsyncSession, order_id: int) -> OrderContext | None:
    """The order, its customer and lines, units already in our returns, the active policy.

    Two round trips with statements built once per process: this runs on every page of
    the journey, so it is kept as lean as it can be.
    """
    params = {"order_id": order_id}
    row = (await session.exec(_ORDER_QUERY, params=params)).first()
    if row is None:
        return None
    order, customer, policy_id, policy_number, policy_sha, returns_count = row
    rows = (await session.exec(_LINES_QUERY, params=params)).all()
    policy = (
        await policy_ref(session, policy_id, policy_number, policy_sha)
        if policy_id is not None
        else None
    )
    return OrderContext(
        order=order,
        customer=customer,
        lines=[line for line, _ in rows],
        in_returns={line.id: int(units) for line, units in rows if units},
        policy=policy,
        returns_count=int(returns_count or 0),
    )


# --- Finding an order ------------------------------------------------------------------

_DUMMY = "\x00no-such-order\x00"


async def find_order(session: AsyncSession, number: str, contact: str) -> Order | None:
    """The order whose number and e-mail (or shipping postal code) match, else None.

    An unknown number and a wrong e-mail/postal code take the same path: one indexed
    query, then the same constant-time comparisons against real or dummy values, so the
    answer and its timing do not tell a stranger which order numbers exist.
    """
    wanted = normalise_order_number(number)
    order = (
        (await session.exec(select(Order).where(Order.number == wanted))).first()
        if wanted
        else None
    )
    email = (order.email if order else _DUMMY).strip().lower()
    postal = order.postal_code_key if order and order.postal_code_key else _DUMMY
    given = contact.strip()
    email_ok = hmac.compare_digest(email.encode(), given.lower().encode())
    postal_ok = hmac.compare_digest(postal.encode(), normalise_postal_code(given).encode())
    if order is not None and given and (email_ok or postal_ok):
        return order
    return None


# --- What the policy says about each line, before any choice ---------------------------


@dataclass(frozen=True, slots=True)
class LineOutlook:
    """One order line as the choose-items page shows it. ``messages`` say why it can't
    come back at all, or, when some reasons are allowed, why the others are not."""

    line: OrderLine
    returnable: int
    eligible_reasons: tuple[str, ...]
    photo_reasons: tuple[str, ...]
    deadline: str | None
    messages: tuple[str, ...]
    keep_item: bool

    @property
    def can_return(self) -> bool:
        return self.returnable > 0 and bool(self.eligible_reasons)


# Per-reason decisions for the choose-items page, by (policy text, minute, order as the
# evaluator sees it). The evaluator is pure, so every replica would compute the same value:
# a memo, not shared state. Shoppers reload that page often; each reload is ~reasons x lines
# evaluations otherwise.
_OUTLOOK_MEMO: dict[tuple[Any, ...], dict[str, dict[str, LineDecision]]] = {}
_OUTLOOK_MEMO_SIZE = 4096


def _shape_fingerprint(shape: dict[str, Any]) -> str:
    text = json.dumps(shape, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def line_outlooks(ctx: OrderContext, as_of: datetime | None = None) -> list[LineOutlook]:
    """For each line: can it come back, until when, for which reasons, and if not, why.

    Rules may depend on the reason (hygiene items come back only when faulty), so each
    returnable line is evaluated once per reason; the evaluator is fast enough for that.
    """
    memo_key: tuple[Any, ...] | None = None
    if as_of is None:
        # The page's own clock is read to the minute, so the same order under the same
        # policy within one minute gives the same answer, computed once (see _OUTLOOK_MEMO).
        as_of = utcnow().replace(second=0, microsecond=0)
        if ctx.policy is not None:
            memo_key = (ctx.policy.sha256, as_of, _shape_fingerprint(ctx.order_shape()))
    policy = ctx.policy
    open_lines = [line for line in ctx.lines if ctx.returnable(line) > 0]
    per_reason: dict[str, dict[str, LineDecision]] = {}
    cached = _OUTLOOK_MEMO.get(memo_key) if memo_key else None
    if cached is not None:
        per_reason = cached
    elif policy is not None and open_lines:
        for reason in policy.compiled.reasons:
            request = ctx.request((Item(line.line_ref, 1, reason) for line in open_lines), as_of)
            decision = evaluate(policy.compiled, request)
            per_reason[reason] = {d.line_id: d for d in decision.lines}
        if memo_key:
            if len(_OUTLOOK_MEMO) >= _OUTLOOK_MEMO_SIZE:
                _OUTLOOK_MEMO.pop(next(iter(_OUTLOOK_MEMO)))
            _OUTLOOK_MEMO[memo_key] = per_reason
    outlooks = []
    for line in ctx.lines:
        returnable = ctx.returnable(line)
        if policy is None:
            outlooks.append(
                LineOutlook(
                    line, returnable, (), (), None, ("Returns are not open right now.",), False
                )
            )
            continue
        if returnable == 0:
            message = (
                "This item is already in a return."
                if ctx.in_returns.get(id_of(line))
                else "Every unit of this item has already been returned."
            )
            outlooks.append(LineOutlook(line, 0, (), (), None, (message,), False))
            continue
        decisions = [(reason, per_reason[reason][line.line_ref]) for reason in per_reason]
        eligible = [(reason, d) for reason, d in decisions if d.eligible]
        messages: list[str] = []
        for _, d in decisions:
            for message in d.messages:
                if message not in messages:
                    messages.append(message)
        if eligible:
            deadline = eligible[0][1].deadline
            keep = all(d.keep_item for _, d in eligible)
        else:
            deadline = next((d.deadline for _, d in decisions if d.deadline), None)
            keep = False
        outlooks.append(
            LineOutlook(
                line=line,
                returnable=returnable,
                eligible_reasons=tuple(reason for reason, _ in eligible),
                photo_reasons=tuple(reason for reason, d in eligible if d.require_photo),
                deadline=deadline,
                messages=tuple(messages),
                keep_item=keep,
            )
        )
    return outlooks


# --- Exchange options ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExchangeOption:
    """A variant the shopper may swap to, with what it costs them (negative: refunded)."""

    variant: Variant
    available: int
    price_difference: int


async def exchange_options(
    session: AsyncSession, lines: Iterable[tuple[OrderLine, int]]
) -> dict[int, list[ExchangeOption]]:
    """Per order line id: the other variants of the same product with enough free stock.

    The difference is priced per unit against what the line's unit cost before discounts,
    so a size swap of a discounted item stays free when the sizes cost the same.
    """
    wanted = [(line, quantity) for line, quantity in lines if line.variant_id is not None]
    if not wanted:
        return {}
    own = {line.variant_id for line, _ in wanted}
    originals = {
        v.id: v for v in (await session.exec(select(Variant).where(col(Variant.id).in_(own)))).all()
    }
    products = {v.product_id for v in originals.values()}
    siblings = (
        await session.exec(
            select(Variant).where(col(Variant.product_id).in_(products)).order_by(col(Variant.id))
        )
    ).all()
    out: dict[int, list[ExchangeOption]] = {}
    for line, quantity in wanted:
        original = originals.get(line.variant_id)
        if original is None:
            out[id_of(line)] = []
            continue
        out[id_of(line)] = [
            ExchangeOption(
                variant=v,
                available=v.stock_on_hand - v.stock_reserved,
                price_difference=(v.price - line.unit_price) * quantity,
            )
            for v in siblings
            if v.product_id == original.product_id
            and v.id != original.id
            and v.stock_on_hand - v.stock_reserved >= quantity
        ]
    return out
