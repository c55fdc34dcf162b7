"""The merchant's own wording for shopper e-mails, and the catalogue of those e-mails.

A merchant may replace the subject, the plain-text body and the HTML body (the content
only: the branded layout stays) of each e-mail in ``CATALOGUE``. Their text is a Jinja
template run in a sandbox with ``StrictUndefined`` against the same context as the shipped
template, so a typo is caught when they save (checked against the e-mail's sample context)
rather than when a shopper is waiting. The send job reads the override when it runs; if
an override somehow fails on real data the shipped wording goes out instead.
"""

from __future__ import annotations

import logging
import operator
import re
import time
import traceback
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import lru_cache, wraps
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError, meta, nodes
from jinja2.exceptions import SecurityError, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer
from markupsafe import Markup
from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.audit import record
from portal.errors import Invalid
from portal.models.base import utcnow
from portal.models.merchant import NotificationTemplate
from portal.models.returns import ReturnStatus
from portal.money.currency import format_money
from portal.notify import emails
from portal.notify.mailer import Email

log = logging.getLogger(__name__)

MAX_SUBJECT_CHARS = 300  # the column's size
MAX_BODY_CHARS = 20_000
MAX_REPEAT = 10_000  # longest string or list a template may build with `*`
MAX_OUTPUT_CHARS = 200_000  # longest text a template may print or build
MAX_LOOP_ITERATIONS = 10_000  # loop turns in one render
MAX_RENDER_SECONDS = 1.0
MAX_WIDTH = 1_000  # largest number a filter or method takes (widths, counts)
ENTITY_TYPE = "notification_template"


# --- The catalogue -----------------------------------------------------------------------


_ITEMS = [
    {
        "title": "Merino crew tee",
        "variant": "M / Navy",
        "quantity": 2,
        "resolution": "Store credit",
        "keep_item": False,
    },
    {
        "title": "Canvas weekender bag",
        "variant": "",
        "quantity": 1,
        "resolution": "Refund",
        "keep_item": False,
    },
]
_RETURN_SAMPLE: dict[str, Any] = {
    "rma": "RMA-7K3QX-9M2PD",
    "order_number": "1042",
    "name": "Alex Morgan",
    "link": "/link/eyJvIjoxMDQyfQ.demo-signature",
    "status": ReturnStatus.APPROVED.value,  # plain JSON, as stored on the outbox
    "items": _ITEMS,
    "currency": "USD",
    "refund_total": 8900,
    "store_credit_total": 5000,
    "label_fee": 500,
    "require_review": False,
    "ships_back": True,
    "ship_by": "December 14, 2026",
    "reason": "",
    "credit_code": "",
    "credit_issued": 0,
    "credit_reversed": 0,
    "credit_uncollectable": 0,
    "headline": "Approved: please send your parcel by December 14, 2026.",
    "details": [
        "Your refund goes back to your original payment within 5 days of the parcel reaching us."
    ],
    "refund_status": "",
    # Every e-mail carries the whole settlement (portal.returns.notify.settlement_context).
    "refund_amount": 8900,
    "refund_pending": False,
    "credit_amount": 5000,
    "completed": False,
    "lines": [],
}
_INSPECTED_SAMPLE: dict[str, Any] = {
    "rma": "RMA-7K3QX-9M2PD",
    "order_number": "1042",
    "name": "Alex Morgan",
    "link": "/link/eyJvIjoxMDQyfQ.demo-signature",
    "currency": "USD",
    "refund_amount": 8400,
    "refund_pending": False,
    "label_fee": 500,
    "credit_amount": 5000,
    "credit_code": "CREDIT-4F7Q-2MZK",
    "credit_reversed": 0,
    "credit_uncollectable": 0,
    "completed": True,
    "headline": "Refund of $84.00 on its way to your original payment, due by December 20, 2026.",
    "details": ["Your refund of $84.00 goes back to your original payment by December 20, 2026."],
    "refund_status": "approved",
    "refund_total": 8400,
    "store_credit_total": 5000,
    "lines": [
        {
            "title": "Merino crew tee",
            "accepted": True,
            "received": 2,
            "requested": 2,
            "refund": 0,
            "credit": 5000,
            "exchange": "",
            "exchange_for": "",
            "reason": "",
        },
        {
            "title": "Canvas weekender bag",
            "accepted": True,
            "received": 1,
            "requested": 1,
            "refund": 8900,
            "credit": 0,
            "exchange": "",
            "exchange_for": "",
            "reason": "",
        },
    ],
}

VARIABLES: dict[str, str] = {
    "name": 'Shopper\'s name; may be empty, so write {{ name or "there" }}',
    "rma": "Return number, e.g. RMA-7K3QX-9M2PD",
    "order_number": "The store's order number",
    "link": "Path of the return's status page (signed); use {{ base_url }}{{ link }}",
    "base_url": "The portal's address, e.g. https://returns.shop.example",
    "status": "The return's status, one of: " + ", ".join(ReturnStatus),
    "headline": "The return's outcome in one sentence, as its status page shows it, e.g. "
    "Refund of $19.05 sent on December 3, 2026.",
    "details": "The status page's sentences about money and replacements: "
    "{% for line in details %}{{ line }} {% endfor %}",
    "refund_status": "Where the refund stands: requested, approved, paid, declined or failed "
    "(empty before one is requested)",
    "items": "The items: {% for item in items %}{{ item.title }} ({{ item.variant }}) × "
    "{{ item.quantity }}: {{ item.resolution }}{% endfor %}; item.keep_item is true when "
    "the shopper keeps it",
    "currency": "The order's currency, e.g. USD",
    "refund_total": "Refund in minor units (cents); show it with "
    "{{ refund_total | money(currency) }}",
    "store_credit_total": "Store credit in minor units; {{ store_credit_total | money(currency) }}",
    "label_fee": "Label fee in minor units; {{ label_fee | money(currency) }}",
    "require_review": "True when a person reviews the return before it goes ahead",
    "ships_back": "True when at least one item has to be sent back",
    "ship_by": "The date the parcel must be sent by, e.g. December 14, 2026 (may be empty)",
    "reason": "Why the return was rejected or cancelled (may be empty)",
    "refund_amount": "Refund after inspection, in minor units",
    "refund_pending": "True while finance still has to approve the refund",
    "credit_amount": "Store credit after inspection, in minor units",
    "credit_code": "The store-credit code to spend (empty unless credit was issued)",
    "credit_issued": "Store credit already issued on credit_code, in minor units",
    "credit_reversed": "Store credit taken back off the code, in minor units (usually 0)",
    "credit_uncollectable": "Store credit no longer due that was already spent, in minor units",
    "completed": "True when nothing more is waited for",
    "shopper_message": "Finance's message to the shopper about a declined refund (may be "
    "empty: then point them to store.support_email)",
    "declined_amount": "The declined refund in minor units; "
    "{{ declined_amount | money(currency) }}",
    "lines": "The inspected items: line.title, line.accepted, line.received, line.requested, "
    "line.refund, line.credit, line.exchange, line.exchange_for, line.reason",
    "store": "Your store: store.name, store.support_email, store.brand_color, "
    "store.accent_color, store.logo_url (may be empty)",
}


@dataclass(frozen=True)
class EmailSpec:
    """One shopper e-mail a merchant may reword."""

    name: str
    title: str
    description: str
    sample: dict[str, Any] = field(repr=False)

    def variables(self) -> list[tuple[str, str]]:
        names = [*self.sample, "base_url", "store"]
        return [(n, VARIABLES.get(n, "")) for n in names]


def _spec(name: str, title: str, description: str, **sample: Any) -> EmailSpec:
    base = _INSPECTED_SAMPLE if name == "return_inspected" else _RETURN_SAMPLE
    return EmailSpec(name, title, description, {**base, **sample})


CATALOGUE: dict[str, EmailSpec] = {
    spec.name: spec
    for spec in (
        _spec(
            "return_created",
            "Return confirmed",
            "Sent when the shopper confirms a return, with its items and amounts.",
            status=ReturnStatus.REQUESTED.value,
            credit_code="CREDIT-4F7Q-2MZK",
            credit_issued=5000,
        ),
        _spec(
            "return_approved",
            "Return approved",
            "Sent when a return that needed review is approved.",
        ),
        _spec(
            "return_rejected",
            "Return rejected",
            "Sent when a return is rejected after review, with the reason given.",
            status=ReturnStatus.REJECTED.value,
            reason="The boots show signs of wear outdoors.",
        ),
        _spec(
            "return_cancelled",
            "Return cancelled",
            "Sent when the shopper cancels a return before shipping it.",
            status=ReturnStatus.CANCELLED.value,
            reason="Shopper cancelled on the status page.",
            credit_reversed=0,
            credit_uncollectable=0,
        ),
        _spec(
            "return_label_ready",
            "Label ready",
            "Sent when the label is ready, with the label and packing slip link.",
            status=ReturnStatus.LABEL_ISSUED.value,
        ),
        _spec(
            "return_reminder",
            "Reminder to ship",
            "Sent when the label is ready but the parcel has not moved for a while.",
            status=ReturnStatus.LABEL_ISSUED.value,
        ),
        _spec(
            "return_in_transit",
            "Parcel on its way",
            "Sent when the carrier has picked up the parcel.",
            status=ReturnStatus.IN_TRANSIT.value,
        ),
        _spec(
            "return_delivered",
            "Parcel delivered",
            "Sent when the carrier has delivered the parcel to the warehouse.",
            status=ReturnStatus.DELIVERED.value,
        ),
        _spec(
            "return_received",
            "Parcel received",
            "Sent when the warehouse scans the parcel in.",
            status=ReturnStatus.RECEIVED.value,
        ),
        _spec(
            "return_inspected",
            "Items checked",
            "Sent when the warehouse has graded the items: what each came to, and why not.",
        ),
        _spec(
            "return_completed",
            "Return complete",
            "Sent when the return is resolved and the money or credit is on its way.",
            status=ReturnStatus.COMPLETED.value,
        ),
        _spec(
            "return_refunded",
            "Refund issued",
            "Sent when the payment provider has issued the refund.",
            status=ReturnStatus.COMPLETED.value,
        ),
        _spec(
            "return_refund_declined",
            "Refund declined",
            "Sent when finance declines a refund, with the message written for the shopper "
            "(finance's internal reason is never sent); the return closes when nothing else "
            "is pending.",
            status=ReturnStatus.COMPLETED.value,
            shopper_message="The tee came back with a stain, so we can't refund it; "
            "we have sent it back to you.",
            declined_amount=4000,
            completed=True,
        ),
        _spec(
            "return_expired",
            "Return expired",
            "Sent when a return was not shipped in time and has closed.",
            status=ReturnStatus.EXPIRED.value,
            credit_reversed=0,
            credit_uncollectable=0,
        ),
    )
}


class UnknownEmail(LookupError):
    """No e-mail in the catalogue has this name."""


def spec_for(name: str) -> EmailSpec:
    try:
        return CATALOGUE[name]
    except KeyError:
        raise UnknownEmail(name) from None


# --- Wording: the shipped template's blocks, or the merchant's --------------------------


@dataclass(frozen=True)
class Wording:
    subject: str
    text: str
    html: str


_BLOCK = re.compile(r"{%-?\s*block\s+(\w+)\s*-?%}(.*?){%-?\s*endblock\b[^%]*%}", re.S)
_INCLUDE = re.compile(r"""{%-?\s*include\s+["'](email/[\w.]+)["']\s*-?%}""")
_COMMENT = re.compile(r"{#.*?#}", re.S)


def shipped_wording(name: str) -> Wording:
    """The shipped template's subject, text and content blocks, as editable source.

    Included parts (the shared item list) are written out in place, so the merchant edits
    every word the shopper reads.
    """
    spec_for(name)
    folder = emails.TEMPLATES_DIR
    source = (folder / "email" / f"{name}.html").read_text(encoding="utf-8")
    blocks = {m.group(1): m.group(2).strip() for m in _BLOCK.finditer(source)}

    def inline(match: re.Match[str]) -> str:
        part = (folder / match.group(1)).read_text(encoding="utf-8")
        return _COMMENT.sub("", part).strip()

    return Wording(
        subject=blocks.get("subject", ""),
        text=blocks.get("text", ""),
        html=_INCLUDE.sub(inline, blocks.get("content", "")),
    )


async def get_override(session: AsyncSession, name: str) -> NotificationTemplate | None:
    return (
        await session.exec(select(NotificationTemplate).where(NotificationTemplate.name == name))
    ).first()


async def list_overrides(session: AsyncSession) -> dict[str, NotificationTemplate]:
    rows = (await session.exec(select(NotificationTemplate))).all()
    return {row.name: row for row in rows}


async def current_wording(session: AsyncSession, name: str) -> tuple[Wording, Any]:
    """What the shopper gets now, and the override row (None for the shipped wording)."""
    row = await get_override(session, name)
    if row is None:
        return shipped_wording(name), None
    return Wording(row.subject, row.body_text, row.body_html), row


# --- The sandbox ---------------------------------------------------------------------------


@dataclass
class _Budget:
    """What one render may still spend: loop iterations and time."""

    iterations: int = 0
    deadline: float = 0.0
    chars: int = MAX_OUTPUT_CHARS


_budget: ContextVar[_Budget | None] = ContextVar("template_budget", default=None)
_BIG_WIDTH = re.compile(r"\d{5,}")  # a field width in a format string: 10000 or more


def _size(value: Any, limit: int = MAX_OUTPUT_CHARS) -> int:
    """Roughly how many characters ``value`` prints as; stops counting past ``limit``."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list | tuple | dict):
        total = 1
        for item in value.items() if isinstance(value, dict) else value:
            total += _size(item, limit - total) + 1
            if total > limit:
                break
        return total
    return 1


def _weight(seq: str | list[Any] | tuple[Any, ...]) -> int:
    """What repeating ``seq`` once costs: its characters, or its items (text counting whole)."""
    if isinstance(seq, str):
        return len(seq)
    return sum(
        _size(item, MAX_REPEAT) if isinstance(item, str | list | tuple | dict) else 1
        for item in seq
    )


def _bounded(value: Any) -> Any:
    if _size(value) > MAX_OUTPUT_CHARS:
        raise SecurityError(f"the text would be longer than {MAX_OUTPUT_CHARS:,} characters")
    return value


def _spend(count: int = 1) -> None:
    budget = _budget.get()
    if budget is None:
        return
    budget.iterations -= count
    if budget.iterations < 0:
        raise SecurityError(f"the loops run more than {MAX_LOOP_ITERATIONS:,} times")
    if time.monotonic() > budget.deadline:
        raise SecurityError(f"it takes longer than {MAX_RENDER_SECONDS:g} seconds to render")


def _printed(value: Any) -> Any:
    """Charge what an expression prints (anywhere: blocks, macros, ``set`` blocks)."""
    budget = _budget.get()
    if budget is not None:
        budget.chars -= _size(value)
        if budget.chars < 0:
            raise SecurityError(f"it comes out longer than {MAX_OUTPUT_CHARS:,} characters")
    return value


def _loop_guard(iterable: Any) -> Any:
    for item in iterable:
        _spend()
        yield item


def _concat_guard(parts: tuple[Any, ...]) -> tuple[Any, ...]:
    if sum(_size(p) for p in parts) > MAX_OUTPUT_CHARS:
        raise SecurityError(f"the text would be longer than {MAX_OUTPUT_CHARS:,} characters")
    return parts


def _check_args(name: str, value: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """Refuse arguments that make a small value huge before the work is done."""
    numbers = [
        a for a in (*args, *kwargs.values()) if isinstance(a, int) and not isinstance(a, bool)
    ]
    if any(abs(n) > MAX_WIDTH for n in numbers):
        raise SecurityError(f"{name}: numbers above {MAX_WIDTH:,} are not allowed here")
    if name in ("format", "format_map") and isinstance(value, str) and _BIG_WIDTH.search(value):
        raise SecurityError(f"{name}: the field width is too large")
    lines = value.count("\n") + value.count("\t") + 1 if isinstance(value, str) else 0
    if name in ("indent", "expandtabs") and numbers and lines * max(numbers) > MAX_OUTPUT_CHARS:
        raise SecurityError(f"{name}: the text would be too long")
    if name == "replace" and isinstance(value, str) and len(args) >= 2:
        old, new = str(args[0]), str(args[1])
        grow = max(len(new) - len(old), 0) * (value.count(old) if old else len(value) + 1)
        if len(value) + grow > MAX_OUTPUT_CHARS:
            raise SecurityError("replace: the text would be too long")
    if name == "join" and isinstance(value, list | tuple):
        _concat_guard(tuple(value))


def _guard_filter(name: str, function: Any) -> Any:
    passes = getattr(function, "jinja_pass_arg", None) is not None

    @wraps(function)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        rest = args[1:] if passes else args
        value, extra = (rest[0], rest[1:]) if rest else (None, ())
        _check_args(name, value, extra, kwargs)
        return _bounded(function(*args, **kwargs))

    return guarded


class _Limits(NodeTransformer):
    """Route loops, ``~`` and every printed or assigned value through the guards."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = nodes.Filter(node.iter, "_loop_guard", [], [], None, None)
        return node

    def visit_Output(self, node: nodes.Output) -> nodes.Node:
        self.generic_visit(node)
        node.nodes = [
            n
            if isinstance(n, nodes.TemplateData)
            else nodes.Filter(n, "_printed", [], [], None, None)
            for n in node.nodes
        ]
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        guarded = nodes.Filter(
            nodes.Tuple(list(node.nodes), "load"), "_concat_guard", [], [], None, None
        )
        return nodes.Concat([nodes.Filter(guarded, "join", [], [], None, None)])

    def visit_Assign(self, node: nodes.Assign) -> nodes.Node:
        self.generic_visit(node)
        node.node = nodes.Filter(node.node, "_bounded", [], [], None, None)
        return node


class _Sandbox(ImmutableSandboxedEnvironment):
    """No attribute tricks, no mutation, no giant strings from ``*``, ``+``, ``%``, ``~``,
    filters or methods, and a budget of loop iterations and time for each render."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def call_binop(self, context: Any, operator_name: str, left: Any, right: Any) -> Any:
        if operator_name == "**":
            if isinstance(right, int | float) and abs(right) > 100:
                raise SecurityError("the exponent is too large")
            if isinstance(left, int) and left.bit_length() > 4096:
                raise SecurityError("the number is too large")
            return operator.pow(left, right)
        if operator_name == "+":
            if _size(left) + _size(right) > MAX_OUTPUT_CHARS:
                raise SecurityError("the text would be too long")
            return operator.add(left, right)
        if operator_name == "%":
            if isinstance(left, str) and _BIG_WIDTH.search(left):
                raise SecurityError("the field width is too large")
            return _bounded(operator.mod(left, right))
        for seq, count in ((left, right), (right, left)):
            too_long = (
                isinstance(seq, str | list | tuple)
                and isinstance(count, int)
                and _weight(seq) * count > MAX_REPEAT
            )
            if too_long:
                raise SecurityError("the repeated text is too long")
        return operator.mul(left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        if __obj is _bounded_range:  # limits its own length
            return super().call(__context, __obj, *args, **kwargs)
        name = getattr(__obj, "__name__", "")
        # str.format comes wrapped by the sandbox; the string is on the wrapped method.
        owner = getattr(__obj, "__self__", None)
        if owner is None:
            owner = getattr(getattr(__obj, "__wrapped__", None), "__self__", None)
        _check_args(name, owner, args, kwargs)
        return _bounded(super().call(__context, __obj, *args, **kwargs))


def _money(amount: Any, currency: str = "USD") -> str:
    return format_money(int(amount), currency)


@lru_cache(maxsize=2)
def _sandbox(autoescape: bool) -> _Sandbox:
    env = _Sandbox(undefined=StrictUndefined, autoescape=autoescape)
    env.filters["money"] = _money
    env.filters = {name: _guard_filter(name, f) for name, f in env.filters.items()}
    env.filters.update(
        _loop_guard=_loop_guard, _concat_guard=_concat_guard, _bounded=_bounded, _printed=_printed
    )
    env.globals["range"] = _bounded_range
    return env


def _bounded_range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_LOOP_ITERATIONS:
        raise SecurityError(f"range() is limited to {MAX_LOOP_ITERATIONS:,} numbers")
    return numbers


FIELDS = {"subject": "Subject", "text": "Plain-text body", "html": "HTML body"}


class TemplateProblem(Invalid):
    """A draft that cannot be used; ``errors`` maps each field to what is wrong with it."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(
            "; ".join(f"{FIELDS[k]}: {' '.join(v)}" for k, v in errors.items()),
            {k: " ".join(v) for k, v in errors.items()},
        )
        self.errors = errors


def _template_line(exc: BaseException) -> int | None:
    lines = [
        f.lineno for f in traceback.extract_tb(exc.__traceback__) if f.filename == "<template>"
    ]
    return lines[-1] if lines else None


def _at(line: int | None, message: str) -> str:
    return f"Line {line}: {message}" if line else message


def _static_problems(source: str, autoescape: bool, allowed: set[str]) -> list[str]:
    """Syntax, forbidden tags and unknown variables: found without running anything."""
    env = _sandbox(autoescape)
    try:
        ast = env.parse(source)
    except TemplateSyntaxError as exc:
        return [_at(exc.lineno, exc.message or "syntax error")]
    problems = [
        _at(node.lineno, "templates here can't include, import or extend other templates.")
        for node in ast.find_all((nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport))
    ]
    unknown = meta.find_undeclared_variables(ast) - allowed - set(env.globals)
    for variable in sorted(unknown):
        line = min(
            (n.lineno for n in ast.find_all(nodes.Name) if n.name == variable and n.ctx == "load"),
            default=None,
        )
        problems.append(_at(line, f"unknown variable '{variable}'."))
    return problems


def _render(source: str, autoescape: bool, context: Mapping[str, Any]) -> str:
    """Render in the sandbox within the output, loop and time limits."""
    env = _sandbox(autoescape)
    ast = _Limits().visit(env.parse(source))
    template = env.from_string(ast)
    token = _budget.set(_Budget(MAX_LOOP_ITERATIONS, time.monotonic() + MAX_RENDER_SECONDS))
    try:
        out: list[str] = []
        size = 0
        for chunk in template.generate(dict(context)):
            size += len(chunk)
            if size > MAX_OUTPUT_CHARS:
                raise SecurityError(f"it comes out longer than {MAX_OUTPUT_CHARS:,} characters")
            _spend(0)
            out.append(chunk)
        return "".join(out)
    finally:
        _budget.reset(token)


def _render_problem(exc: Exception) -> str:
    line = _template_line(exc)
    if isinstance(exc, SecurityError):
        return _at(line, f"that is not allowed in an e-mail template ({str(exc).rstrip('.')}).")
    if isinstance(exc, UndefinedError):
        return _at(line, f"{(exc.message or 'undefined').rstrip('.')}.")
    if isinstance(exc, TemplateError):
        return _at(line, exc.message or type(exc).__name__)
    return _at(line, f"could not render this with the sample values ({str(exc).rstrip('.')}).")


@dataclass(frozen=True)
class Rendered:
    """A draft rendered with an e-mail's sample context: what the shopper would get."""

    subject: str = ""
    text: str = ""
    html: str = ""
    errors: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


def full_context(spec: EmailSpec, store: Mapping[str, Any], base_url: str) -> dict[str, Any]:
    return {**spec.sample, "store": dict(store), "base_url": base_url}


def render_draft(name: str, wording: Wording, store: Mapping[str, Any], base_url: str) -> Rendered:
    """Check a draft and render it with the e-mail's sample context (nothing is saved)."""
    spec = spec_for(name)
    context = full_context(spec, store, base_url)
    allowed = set(context)
    errors: dict[str, list[str]] = {}
    out: dict[str, str] = {}
    sources = {"subject": wording.subject, "text": wording.text, "html": wording.html}
    limits = {"subject": MAX_SUBJECT_CHARS, "text": MAX_BODY_CHARS, "html": MAX_BODY_CHARS}
    for key, source in sources.items():
        autoescape = key == "html"
        if not source.strip():
            errors[key] = [f"Write the {FIELDS[key].lower()}; it can't be empty."]
            continue
        if len(source) > limits[key]:
            errors[key] = [f"Keep it under {limits[key]:,} characters (it has {len(source):,})."]
            continue
        problems = _static_problems(source, autoescape, allowed)
        if problems:
            errors[key] = problems
            continue
        try:
            out[key] = _render(source, autoescape, context)
        except Exception as exc:
            errors[key] = [_render_problem(exc)]
    subject = " ".join(out.get("subject", "").split())
    if "subject" in out and not subject:
        errors["subject"] = ["The subject comes out empty with the sample values."]
    html = ""
    if "html" in out:
        html = _layout(Markup(out["html"].strip()), subject, context)
    return Rendered(
        subject=subject,
        text=out.get("text", "").strip() + "\n" if "text" in out else "",
        html=html,
        errors=errors,
    )


def _layout(content: Markup, subject: str, context: Mapping[str, Any]) -> str:
    """The shipped branded layout around the merchant's content (trusted template)."""
    layout = emails._environment().from_string(
        '{% extends "email/base.html" %}'
        "{% block subject %}{{ _subject }}{% endblock %}"
        "{% block content %}{{ _content }}{% endblock %}"
    )
    return layout.render({**context, "_subject": subject, "_content": content, "part": "html"})


def render_override(
    row: NotificationTemplate,
    to: str,
    context: Mapping[str, Any],
    return_id: int | None = None,
) -> Email:
    """The merchant's wording with a real context; raises on any problem."""
    subject = " ".join(_render(row.subject, False, context).split())[:MAX_SUBJECT_CHARS]
    if not subject:
        raise ValueError("the subject came out empty")
    content = Markup(_render(row.body_html, True, context).strip())
    return Email(
        to=to,
        subject=subject,
        text=_render(row.body_text, False, context).strip() + "\n",
        html=_layout(content, subject, context),
        template=row.name,
        return_id=return_id,
    )


def _with_defaults(name: str, context: Mapping[str, Any]) -> dict[str, Any]:
    """Every catalogued variable is defined: one an e-mail leaves out (credit taken back
    when there was none, say) is empty (0, "", false), as the merchant was promised."""
    spec = CATALOGUE.get(name)
    empty = (str, int, float, bool, list, dict)
    defaults = {
        k: type(v)() if isinstance(v, empty) else None
        for k, v in (spec.sample if spec else {}).items()
    }
    return {**defaults, **context}


async def render_for_sending(
    session: AsyncSession,
    name: str,
    to: str,
    context: dict[str, Any],
    return_id: int | None = None,
) -> Email:
    """The e-mail as it goes out now: the merchant's wording if there is one, else shipped."""
    row = await get_override(session, name)
    if row is not None:
        try:
            return render_override(row, to, _with_defaults(name, context), return_id)
        except Exception:
            log.exception("custom wording of %s failed; sending the shipped wording", name)
    return emails.render_email(name, to, context, return_id=return_id)


# --- Save and reset ------------------------------------------------------------------------


def _normalise(source: str) -> str:
    return source.replace("\r\n", "\n")


async def save_override(
    session: AsyncSession,
    actor: str,
    name: str,
    wording: Wording,
    store: Mapping[str, Any],
    base_url: str,
) -> NotificationTemplate:
    """Check the draft against the sample context and save it; a bad draft changes nothing."""
    wording = Wording(
        subject=_normalise(wording.subject).strip(),
        text=_normalise(wording.text),
        html=_normalise(wording.html),
    )
    if "\n" in wording.subject:
        raise TemplateProblem({"subject": ["The subject must be a single line."]})
    rendered = render_draft(name, wording, store, base_url)
    if not rendered.ok:
        raise TemplateProblem(rendered.errors)
    row = await get_override(session, name)
    previous = None if row is None else {"subject": row.subject}
    if row is None:
        row = NotificationTemplate(name=name, subject="", body_text="", body_html="")
    row.subject, row.body_text, row.body_html = wording.subject, wording.text, wording.html
    row.updated_at, row.updated_by = utcnow(), actor
    session.add(row)
    try:
        await session.flush()
    except IntegrityError:
        await session.rollback()
        raise TemplateProblem(
            {"subject": ["Someone saved this e-mail at the same moment; load it again."]}
        ) from None
    await record(
        session,
        actor,
        ENTITY_TYPE,
        row.id,
        "notification_customised",
        reason=f"Wording of the e-mail \u201c{spec_for(name).title}\u201d ({name})",
        from_state="custom" if previous else "default",
        to_state="custom",
        data={
            "name": name,
            "subject": wording.subject,
            "text": wording.text,
            "html": wording.html,
            "previous_subject": previous["subject"] if previous else None,
        },
    )
    await session.commit()
    return row


async def reset_override(session: AsyncSession, actor: str, name: str) -> bool:
    """Back to the shipped wording; False when there was nothing to reset."""
    spec_for(name)
    row = await get_override(session, name)
    if row is None:
        return False
    await record(
        session,
        actor,
        ENTITY_TYPE,
        row.id,
        "notification_reset",
        reason=f"Wording of the e-mail \u201c{spec_for(name).title}\u201d ({name})",
        from_state="custom",
        to_state="default",
        data={
            "name": name,
            "subject": row.subject,
            "text": row.body_text,
            "html": row.body_html,
        },
    )
    await session.delete(row)
    await session.commit()
    return True
