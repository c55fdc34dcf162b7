"""Compile a validated policy once, then evaluate requests against it, purely.

`compile_policy` turns each rule's `when` into a predicate closure over a small
per-line context and each `then` into a dict of effect overrides, so evaluating
a line is a loop of closure calls and `dict.update`s with integer arithmetic:
no pydantic, no Decimal, no I/O and no clock on the hot path. `evaluate` takes
"now" from the request, which makes decisions reproducible for the backtest.

Interpretations of POLICY.md that were not spelled out are marked "Choice:".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from fnmatch import translate
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from portal.policy.loader import load_policy, policy_sha256
from portal.policy.request import EvaluationRequest, RequestError
from portal.policy.schema import Conditions, Policy

__all__ = [
    "CompiledPolicy",
    "Decision",
    "LineDecision",
    "ReturnSummary",
    "compile_policy",
    "compile_policy_text",
    "evaluate",
    "round_half_up",
]


def round_half_up(numerator: int, denominator: int) -> int:
    """numerator/denominator rounded half up, for numerator >= 0, denominator > 0."""
    return (2 * numerator + denominator) // (2 * denominator)


def _ratio(percent: Decimal) -> tuple[int, int]:
    """A percentage as an exact integer fraction of 100 (12.5 -> (25, 200))."""
    num, den = percent.as_integer_ratio()
    return num, den * 100


# ---------------------------------------------------------------------------
# results


class LineDecision(NamedTuple):
    """The decision for one requested item (a NamedTuple: immutable and cheap to build)."""

    line_id: str
    quantity: int
    eligible: bool
    deadline: str | None
    resolutions: tuple[str, ...]
    keep_item: bool
    require_review: bool
    require_photo: bool
    destination: str | None
    restocking_fee: int
    refund_amount: int
    store_credit_amount: int
    matched_rules: tuple[str, ...]
    messages: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """The line as POLICY.md's JSON (lists, not tuples)."""
        out = self._asdict()
        out["resolutions"] = list(self.resolutions)
        out["matched_rules"] = list(self.matched_rules)
        out["messages"] = list(self.messages)
        return out


class ReturnSummary(NamedTuple):
    """Return-level totals and flags."""

    eligible: bool
    label_fee: int
    refund_total: int
    store_credit_total: int
    needs_approval: bool
    require_review: bool


class Decision(NamedTuple):
    """The evaluator's whole answer for one request."""

    policy: str
    policy_sha256: str
    lines: tuple[LineDecision, ...]
    totals: ReturnSummary

    def to_dict(self) -> dict[str, Any]:
        """Exactly the JSON document `portal policy evaluate` prints."""
        return {
            "policy": self.policy,
            "policy_sha256": self.policy_sha256,
            "lines": [line.to_dict() for line in self.lines],
            "return": self.totals._asdict(),
        }


# ---------------------------------------------------------------------------
# compilation


class _Ctx:
    """What conditions look at for one requested item (attribute access is fast)."""

    __slots__ = (
        "country",
        "customer_tags",
        "days_since",
        "discounted",
        "order_tags",
        "order_total",
        "ordered",
        "paid_all",
        "product_type",
        "reason",
        "sku",
        "tags",
        "vendor",
    )

    country: str
    customer_tags: frozenset[str]
    days_since: int
    discounted: bool
    order_tags: frozenset[str]
    order_total: int
    ordered: int
    paid_all: int
    product_type: str
    reason: str
    sku: str
    tags: frozenset[str]
    vendor: str


Pred = Callable[[_Ctx], bool]


def _all_of(preds: list[Pred]) -> Pred | None:
    if not preds:
        return None
    if len(preds) == 1:
        return preds[0]
    if len(preds) == 2:
        a, b = preds
        return lambda c: a(c) and b(c)
    chain = tuple(preds)

    def every(c: _Ctx) -> bool:
        # A plain loop: measurably faster than all() over a generator on this hot path.
        for p in chain:  # noqa: SIM110
            if not p(c):
                return False
        return True

    return every


def _lower(values: tuple[str, ...]) -> frozenset[str]:
    return frozenset(v.lower() for v in values)


# Conditions that depend only on the order (not on the line or the reason): a
# rule's part made of these is checked once per request instead of once per line.
_ORDER_LEVEL = frozenset(
    {
        "order_tags_any",
        "customer_tags_any",
        "country_in",
        "country_not_in",
        "order_total_below",
        "order_total_at_least",
        "days_since_delivery_over",
    }
)


def _compile_conditions(cond: Conditions | None, part: str = "all") -> Pred | None:
    """A predicate for a `when` map, or None when it always holds.

    `part` selects which top-level keys to compile: "all", "order" (the order-level
    ones) or "line" (the rest except a top-level `reason_in`, which the compiled
    policy turns into a per-reason rule index instead).
    """
    if cond is None:
        return None

    def wanted(key: str) -> bool:
        if part == "all":
            return True
        if part == "order":
            return key in _ORDER_LEVEL
        return key not in _ORDER_LEVEL and key != "reason_in"

    preds: list[Pred] = []
    if cond.tags_any is not None and wanted("tags_any"):
        s = _lower(cond.tags_any)
        preds.append(lambda c: not s.isdisjoint(c.tags))
    if cond.tags_all is not None and wanted("tags_all"):
        s1 = _lower(cond.tags_all)
        preds.append(lambda c: s1 <= c.tags)
    if cond.tags_none is not None and wanted("tags_none"):
        s2 = _lower(cond.tags_none)
        preds.append(lambda c: s2.isdisjoint(c.tags))
    if cond.order_tags_any is not None and wanted("order_tags_any"):
        s3 = _lower(cond.order_tags_any)
        preds.append(lambda c: not s3.isdisjoint(c.order_tags))
    if cond.customer_tags_any is not None and wanted("customer_tags_any"):
        s4 = _lower(cond.customer_tags_any)
        preds.append(lambda c: not s4.isdisjoint(c.customer_tags))
    if cond.product_type_in is not None and wanted("product_type_in"):
        s5 = _lower(cond.product_type_in)
        preds.append(lambda c: c.product_type in s5)
    if cond.vendor_in is not None and wanted("vendor_in"):
        s6 = _lower(cond.vendor_in)
        preds.append(lambda c: c.vendor in s6)
    if cond.sku_matches is not None and wanted("sku_matches"):
        # Choice: globs match case-insensitively, like every other text comparison.
        match = re.compile("|".join(translate(g) for g in cond.sku_matches), re.IGNORECASE).match
        preds.append(lambda c: match(c.sku) is not None)
    if cond.reason_in is not None and wanted("reason_in"):
        s7 = frozenset(cond.reason_in)
        preds.append(lambda c: c.reason in s7)
    if cond.country_in is not None and wanted("country_in"):
        s8 = frozenset(cond.country_in)
        # Choice: an order without a country is in no listed country ...
        preds.append(lambda c: c.country in s8)
    if cond.country_not_in is not None and wanted("country_not_in"):
        s9 = frozenset(cond.country_not_in)
        # ... and therefore "not in" every list.
        preds.append(lambda c: c.country not in s9)
    # Choice: the unit price is the exact average paid per unit of the order line,
    # (unit_price * ordered - discount) / ordered, compared without rounding.
    if cond.unit_price_below is not None and wanted("unit_price_below"):
        m1 = cond.unit_price_below
        preds.append(lambda c: c.paid_all < m1 * c.ordered)
    if cond.unit_price_at_least is not None and wanted("unit_price_at_least"):
        m2 = cond.unit_price_at_least
        preds.append(lambda c: c.paid_all >= m2 * c.ordered)
    if cond.order_total_below is not None and wanted("order_total_below"):
        m3 = cond.order_total_below
        preds.append(lambda c: c.order_total < m3)
    if cond.order_total_at_least is not None and wanted("order_total_at_least"):
        m4 = cond.order_total_at_least
        preds.append(lambda c: c.order_total >= m4)
    if cond.discounted is not None and wanted("discounted"):
        flag = cond.discounted
        preds.append(lambda c: c.discounted is flag)
    if cond.days_since_delivery_over is not None and wanted("days_since_delivery_over"):
        n = cond.days_since_delivery_over
        preds.append(lambda c: c.days_since > n)
    if cond.any is not None and wanted("any"):
        subs = [_compile_conditions(sub) for sub in cond.any]
        if all(sub is not None for sub in subs):
            alternatives = tuple(s for s in subs if s is not None)

            def some(c: _Ctx) -> bool:
                for p in alternatives:  # noqa: SIM110 (faster than any() + generator)
                    if p(c):
                        return True
                return False

            preds.append(some)
        # An empty alternative (`{}`) always holds, so the whole `any` does: no predicate.
    if cond.not_ is not None and wanted("not_"):
        inner = _compile_conditions(cond.not_)
        if inner is None:
            preds.append(lambda c: False)
        else:
            preds.append(lambda c: not inner(c))
    return _all_of(preds)


_EFFECT_FIELDS = (
    "window_days",
    "resolutions",
    "keep_item",
    "require_review",
    "require_photo",
    "waive_fees",
    "destination",
)

# (rule index, name, line-level predicate or None, effect overrides, deny message or None)
LineRule = tuple[int, str, "Pred | None", dict[str, Any], "str | None"]


@dataclass(frozen=True, slots=True)
class CompiledPolicy:
    """A policy ready for fast, repeated evaluation.

    Each rule is split into an order-level predicate (checked once per request),
    its top-level `reason_in` (used to pre-select the rules that can apply to each
    reason code) and a line-level predicate (checked per line). `rules_by_reason`
    keeps file order, so precedence is unchanged.
    """

    policy: Policy
    sha256: str
    name: str
    currency: str
    tz: ZoneInfo
    window_from: str
    extensions: tuple[tuple[date, date, date], ...]
    reasons: Mapping[str, tuple[bool, bool]]
    order_checks: tuple[tuple[int, Pred], ...]
    rules_by_reason: Mapping[str, tuple[LineRule, ...]]
    defaults: Mapping[str, Any]
    label_fee: int
    refund_fee_waived: bool
    store_credit_fee_waived: bool
    bonus_cap: int | None
    auto_approve_below: int | None
    review_customer_tags: frozenset[str]

    @property
    def rule_count(self) -> int:
        """How many rules the policy has."""
        return len(self.policy.rules)


def compile_policy(policy: Policy, sha256: str = "") -> CompiledPolicy:
    """Compile once; `sha256` is the fingerprint of the policy text it came from."""
    order_checks: list[tuple[int, Pred]] = []
    line_rules: list[tuple[frozenset[str] | None, LineRule]] = []
    for index, rule in enumerate(policy.rules):
        then = rule.then
        effects: dict[str, Any] = {
            key: getattr(then, key) for key in _EFFECT_FIELDS if getattr(then, key) is not None
        }
        if then.restocking_fee_percent is not None:
            effects["restocking"] = _ratio(then.restocking_fee_percent)
        if then.store_credit_bonus_percent is not None:
            effects["bonus"] = _ratio(then.store_credit_bonus_percent)
        order_pred = _compile_conditions(rule.when, "order")
        if order_pred is not None:
            order_checks.append((index, order_pred))
        reason_in = rule.when.reason_in if rule.when is not None else None
        line_rules.append(
            (
                frozenset(reason_in) if reason_in is not None else None,
                (index, rule.name, _compile_conditions(rule.when, "line"), effects, then.deny),
            )
        )
    rules_by_reason = {
        reason.code: tuple(r for codes, r in line_rules if codes is None or reason.code in codes)
        for reason in policy.reasons
    }
    defaults = {
        "window_days": policy.window.days,
        "resolutions": tuple(policy.resolutions),
        "keep_item": False,
        "require_review": False,
        "require_photo": False,
        "waive_fees": False,
        "destination": policy.default_warehouse,
        "restocking": _ratio(policy.fees.restocking_percent),
        "bonus": _ratio(policy.store_credit.bonus_percent),
    }
    return CompiledPolicy(
        policy=policy,
        sha256=sha256,
        name=policy.name,
        currency=policy.currency,
        tz=ZoneInfo(policy.timezone),
        window_from=policy.window.from_,
        extensions=tuple((e.ordered_from, e.ordered_to, e.until) for e in policy.extensions),
        reasons={r.code: (r.fault == "merchant", r.requires_photo) for r in policy.reasons},
        order_checks=tuple(order_checks),
        rules_by_reason=rules_by_reason,
        defaults=defaults,
        label_fee=policy.fees.label_fee,
        refund_fee_waived="refund" in policy.fees.waive_for,
        store_credit_fee_waived="store_credit" in policy.fees.waive_for,
        bonus_cap=policy.store_credit.bonus_cap,
        auto_approve_below=policy.approval.auto_approve_refunds_below,
        review_customer_tags=_lower(policy.approval.always_review_customer_tags),
    )


def compile_policy_text(text: str, file: str = "<policy>") -> CompiledPolicy:
    """Load, validate and compile policy text (raises PolicyLoadError)."""
    return compile_policy(load_policy(text, file), policy_sha256(text))


# ---------------------------------------------------------------------------
# evaluation


def _distribute(cap: int, bonuses: list[int]) -> list[int]:
    """Split `cap` over lines in proportion to their bonuses (largest remainder).

    Choice: when the bonus cap bites, each line's store_credit_amount carries its
    proportional share of the capped bonus, so the lines add up to the total.
    """
    total = sum(bonuses)
    shares = [cap * b // total for b in bonuses]
    left = cap - sum(shares)
    order = sorted(range(len(bonuses)), key=lambda i: (-(cap * bonuses[i] % total), i))
    for i in order[:left]:
        shares[i] += 1
    return shares


def _ineligible(
    item_line_id: str,
    quantity: int,
    deadline: str | None,
    matched: tuple[str, ...],
    messages: tuple[str, ...],
) -> LineDecision:
    # Choice: an ineligible line reports no flags, no destination and zero amounts;
    # only its deadline (when one applies), the rules that matched and the messages.
    return LineDecision(
        item_line_id, quantity, False, deadline, (), False, False, False, None, 0, 0, 0,
        matched, messages,
    )  # fmt: skip


def evaluate(compiled: CompiledPolicy, request: EvaluationRequest) -> Decision:
    """Decide every requested item and the return as a whole. Pure and deterministic."""
    order = request.order
    reasons = compiled.reasons
    lines_by_id = order.lines_by_id
    for index, item in enumerate(request.items):
        if item.reason not in reasons:
            raise RequestError(
                f"items[{index}].reason {item.reason!r} is not a reason this policy knows "
                f"(use one of: {', '.join(sorted(reasons))})"
            )
        if item.line_id not in lines_by_id:
            raise RequestError(
                f"items[{index}].line_id {item.line_id!r} is not a line of this order"
            )
        if item.quantity < 1:
            raise RequestError(f"items[{index}].quantity must be at least 1")

    if order.currency != compiled.currency and order.currency.upper() != compiled.currency:
        message = (
            f"This order was paid in {order.currency}, but this return policy only covers "
            f"orders paid in {compiled.currency}."
        )
        lines = tuple(
            _ineligible(item.line_id, item.quantity, None, (), (message,)) for item in request.items
        )
        review = not compiled.review_customer_tags.isdisjoint(order.customer.tags_lower)
        return Decision(
            compiled.name, compiled.sha256, lines, ReturnSummary(False, 0, 0, 0, False, review)
        )

    tz = compiled.tz
    today = request.as_of.astimezone(tz).date()
    # Delivery falls back to fulfilment, then to the order date (POLICY.md `window`).
    delivered = (order.delivered_at or order.fulfilled_at or order.placed_at).astimezone(tz).date()
    window_from = compiled.window_from
    if window_from == "delivered":
        start = delivered
    elif window_from == "fulfilled":
        start = (order.fulfilled_at or order.placed_at).astimezone(tz).date()
    else:
        start = order.placed_at.astimezone(tz).date()
    extended_until: date | None = None
    if compiled.extensions:
        placed = order.placed_at.astimezone(tz).date()
        for first, last, until in compiled.extensions:
            if first <= placed <= last and (extended_until is None or until > extended_until):
                extended_until = until
    # window_days -> (deadline text, window over?); most lines share one window.
    deadlines: dict[int, tuple[str, bool]] = {}

    ctx = _Ctx()
    ctx.order_tags = order.tags_lower
    ctx.customer_tags = order.customer.tags_lower
    ctx.country = order.shipping_address.country
    ctx.order_total = order.total
    # Choice: "days since delivery" counts calendar days in the policy time zone, so
    # `days_since_delivery_over: N` holds exactly when an N-day window would be over.
    ctx.days_since = (today - delivered).days

    # Order-level conditions are the same for every line: check them once.
    failed = {index for index, check in compiled.order_checks if not check(ctx)}
    rules_by_reason = compiled.rules_by_reason
    filtered: dict[str, tuple[LineRule, ...]] = {}

    defaults = compiled.defaults
    refund_fee_waived = compiled.refund_fee_waived
    store_credit_fee_waived = compiled.store_credit_fee_waived
    consumed: dict[str, int] = {}
    decisions: list[LineDecision] = []
    bonuses: list[int] = []
    bonus_lines: list[int] = []
    ships_back = False
    fee_waived_somewhere = False

    for item in request.items:
        line = lines_by_id[item.line_id]
        quantity = item.quantity
        ordered = line.quantity
        ctx.tags = line.tags_lower
        ctx.product_type = line.product_type_lower
        ctx.vendor = line.vendor_lower
        ctx.sku = line.sku
        ctx.reason = item.reason
        ctx.discounted = line.discount > 0
        if ordered > 0:
            ctx.paid_all = line.unit_price * ordered - line.discount
            ctx.ordered = ordered
        else:
            ctx.paid_all = line.unit_price
            ctx.ordered = 1

        effect = dict(defaults)
        matched: list[str] = []
        denials: list[str] = []
        candidates = rules_by_reason[item.reason]
        if failed:
            # Drop the rules whose order-level part failed (once per reason per request).
            narrowed = filtered.get(item.reason)
            if narrowed is None:
                narrowed = filtered[item.reason] = tuple(
                    rule for rule in candidates if rule[0] not in failed
                )
            candidates = narrowed
        for _index, name, pred, effects, deny in candidates:
            if pred is None or pred(ctx):
                matched.append(name)
                if deny is not None and deny not in denials:
                    denials.append(deny)
                if effects:
                    effect.update(effects)

        # Deny wins over everything (identical deny messages are shown once). Choice: a
        # denied line gets no deadline and no window message; otherwise the window
        # check runs with the final window_days.
        messages = denials
        deadline_text: str | None = None
        if not denials:
            days = effect["window_days"]
            known = deadlines.get(days)
            if known is None:
                deadline = start + timedelta(days=days)
                if extended_until is not None and extended_until > deadline:
                    deadline = extended_until
                known = deadlines[days] = (deadline.isoformat(), today > deadline)
            deadline_text = known[0]
            if known[1]:
                messages.append(f"The return window for this item closed on {deadline_text}.")
        # Choice: several items may name the same order line (e.g. different reasons);
        # each eligible item uses up returnable units in request order.
        remaining = ordered - line.returned_quantity - consumed.get(line.id, 0)
        if quantity > remaining:
            if remaining <= 0:
                messages.append("Every unit of this item has already been returned or requested.")
            else:
                messages.append(
                    f"Only {remaining} of this item can still be returned; {quantity} requested."
                )
        if messages:
            decisions.append(
                _ineligible(item.line_id, quantity, deadline_text, tuple(matched), tuple(messages))
            )
            continue
        consumed[line.id] = consumed.get(line.id, 0) + quantity

        merchant_fault, reason_photo = reasons[item.reason]
        paid = line.unit_price * quantity - round_half_up(line.discount * quantity, ordered)
        if paid < 0:
            paid = 0
        if merchant_fault or effect["waive_fees"]:
            fee = 0
            fee_waived_somewhere = True
        else:
            num, den = effect["restocking"]
            fee = (2 * paid * num + den) // (2 * den)  # round_half_up, inlined
        resolutions = effect["resolutions"]
        refund = 0
        if "refund" in resolutions:
            refund = paid if refund_fee_waived else paid - fee
        credit = 0
        if "store_credit" in resolutions:
            num, den = effect["bonus"]
            bonus = (2 * paid * num + den) // (2 * den)
            credit = (paid if store_credit_fee_waived else paid - fee) + bonus
            if bonus:
                bonuses.append(bonus)
                bonus_lines.append(len(decisions))
        keep = effect["keep_item"]
        if not keep:
            ships_back = True
        decisions.append(
            LineDecision(
                item.line_id,
                quantity,
                True,
                deadline_text,
                resolutions,
                keep,
                effect["require_review"],
                effect["require_photo"] or reason_photo,
                effect["destination"],
                fee,
                refund if refund > 0 else 0,
                credit if credit > 0 else 0,
                tuple(matched),
                (),
            )
        )

    cap = compiled.bonus_cap
    if cap is not None and sum(bonuses) > cap:
        for index, bonus, share in zip(
            bonus_lines, bonuses, _distribute(cap, bonuses), strict=True
        ):
            old = decisions[index]
            decisions[index] = old._replace(
                store_credit_amount=old.store_credit_amount - bonus + share
            )

    refund_sum = 0
    credit_total = 0
    any_eligible = False
    review = False
    for d in decisions:
        if d.eligible:
            any_eligible = True
            refund_sum += d.refund_amount
            credit_total += d.store_credit_amount
            review = review or d.require_review
    label_fee = 0
    if any_eligible and ships_back and not fee_waived_somewhere and not refund_fee_waived:
        label_fee = min(compiled.label_fee, refund_sum)
    refund_total = refund_sum - label_fee
    auto = compiled.auto_approve_below
    needs_approval = refund_total > 0 and (auto is None or refund_total >= auto)
    if not review and compiled.review_customer_tags:
        review = not compiled.review_customer_tags.isdisjoint(order.customer.tags_lower)
    summary = ReturnSummary(
        any_eligible, label_fee, refund_total, credit_total, needs_approval, review
    )
    return Decision(compiled.name, compiled.sha256, tuple(decisions), summary)
