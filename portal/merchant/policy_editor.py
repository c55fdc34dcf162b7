"""The policy editor's domain: per-user drafts, validation, preview, publish and diffs.

The engine (``portal.policy``) stays pure; this module adds the database and the
merchant-facing rules: a draft belongs to one user, and a publish names the version it
was edited from so a stale tab cannot silently replace someone else's newer policy.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.audit import record
from portal.errors import Invalid
from portal.models.base import id_of, utcnow
from portal.models.merchant import PolicyDraft
from portal.models.orders import Order, OrderLine
from portal.models.policy import PolicyVersion
from portal.models.staff import StaffUser
from portal.policy import PolicyError, RequestError, evaluate, validate_policy_text
from portal.policy.backtest import BacktestReport
from portal.policy.cli import describe_policy
from portal.policy.loader import PolicyLoadError
from portal.policy.request import Item
from portal.policy.versions import (
    PolicyVersionError,
    active_version,
    backtest_candidate,
    compiled,
    lock_active_version,
    publish,
    rollback,
)
from portal.returns.context import load_order_context

MAX_POLICY_CHARS = 200_000
MAX_BACKTEST_DAYS = 3650


class EditorError(Invalid):
    """Something the merchant asked for cannot happen; the message says why."""


@dataclass(frozen=True)
class Validation:
    """The outcome of checking policy text: a summary when good, every error when not."""

    errors: list[PolicyError]
    summary: str = ""
    rule_count: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors

    def errors_by_line(self) -> dict[int, list[PolicyError]]:
        out: dict[int, list[PolicyError]] = {}
        for error in self.errors:
            out.setdefault(error.line, []).append(error)
        return out


def validate(text: str) -> Validation:
    """Check text as the merchant types; never raises for bad policy text."""
    if len(text) > MAX_POLICY_CHARS:
        return Validation(
            [
                PolicyError(
                    "policy", 1, 1, f"the policy is longer than {MAX_POLICY_CHARS} characters"
                )
            ]
        )
    policy, errors = validate_policy_text(text, "policy")
    if policy is None or errors:
        return Validation(sorted(errors, key=lambda e: (e.line, e.column)))
    return Validation([], describe_policy(policy), len(policy.rules))


# --- Drafts ---------------------------------------------------------------------------


async def get_draft(session: AsyncSession, user_id: int) -> PolicyDraft | None:
    return (await session.exec(select(PolicyDraft).where(PolicyDraft.user_id == user_id))).first()


async def save_draft(
    session: AsyncSession, user: StaffUser, text: str, base_version: int | None
) -> PolicyDraft:
    """Keep this user's work in progress (even invalid text: it is a draft)."""
    if len(text) > MAX_POLICY_CHARS:
        raise EditorError(f"The policy is longer than {MAX_POLICY_CHARS} characters.")
    draft = await get_draft(session, id_of(user))
    if draft is None:
        draft = PolicyDraft(user_id=id_of(user), yaml_text=text, base_version=base_version)
    else:
        draft.yaml_text = text
        draft.base_version = base_version
        draft.updated_at = utcnow()
    session.add(draft)
    await session.flush()
    await record(
        session, user.email, "policy_draft", draft.id, "saved", data={"base_version": base_version}
    )
    await session.commit()
    return draft


async def discard_draft(session: AsyncSession, user: StaffUser) -> bool:
    draft = await get_draft(session, id_of(user))
    if draft is None:
        return False
    await record(session, user.email, "policy_draft", draft.id, "discarded")
    await session.delete(draft)
    await session.commit()
    return True


@dataclass(frozen=True)
class EditorState:
    """What the editor opens with: the user's draft if any, else the active policy."""

    text: str
    base_version: int | None
    active: PolicyVersion | None
    from_draft: bool
    draft_saved_at: datetime | None = None


async def editor_state(session: AsyncSession, user: StaffUser) -> EditorState:
    active = await active_version(session)
    draft = await get_draft(session, id_of(user))
    if draft is not None:
        return EditorState(draft.yaml_text, draft.base_version, active, True, draft.updated_at)
    return EditorState(
        active.yaml_text if active else "", active.version if active else None, active, False
    )


# --- Publish and rollback -------------------------------------------------------------


async def publish_text(
    session: AsyncSession,
    user: StaffUser,
    text: str,
    base_version: int | None,
    note: str = "",
    *,
    keep_draft: bool = False,
) -> PolicyVersion:
    """Publish ``text`` if it is valid and was edited from the version now active.

    ``keep_draft`` leaves the user's editor draft alone (a publish from the settings page).

    Raises PolicyLoadError (nothing stored) for a bad policy and EditorError when another
    version went live since the editor was opened, or on a simultaneous publish.
    """
    # Take the lock first, so two publishes (or a publish and a rollback) from the same
    # base queue up here and the second sees the first one's version and is refused.
    current = await lock_active_version(session)
    current_number = current.version if current else None
    if current_number != base_version:
        message = (
            f"Version {current_number} was published by {current.author if current else 'someone'} "
            f"after you opened the editor (you started from version {base_version}). "
            "Reload to see it; your text is kept as your draft."
        )
        await session.rollback()  # release the lock before anything else happens
        raise EditorError(message)
    compiled(text, "policy")  # raises PolicyLoadError with every error
    if current is not None and current.yaml_text == text:
        raise EditorError(f"This is exactly version {current.version}, already live.")
    try:
        version = await publish(session, text, author=user.email, note=note.strip()[:500])
    except PolicyVersionError as exc:
        raise EditorError(str(exc)) from None
    draft = None if keep_draft else await get_draft(session, id_of(user))
    if draft is not None:
        await session.delete(draft)
        await session.commit()
    return version


async def rollback_to(
    session: AsyncSession,
    user: StaffUser,
    version_number: int,
    note: str = "",
    base_version: int | None = None,
) -> PolicyVersion:
    """Make ``version_number`` live again if ``base_version`` (the version the history page
    showed live) is still the live one; raises EditorError otherwise."""
    if base_version is None:
        raise EditorError(
            "The page did not say which version it showed live. Reload the history and try again."
        )
    if base_version == version_number:
        raise EditorError(f"Version {version_number} is already live.")
    try:
        return await rollback(
            session, version_number, user.email, note.strip()[:500], expected_current=base_version
        )
    except PolicyVersionError as exc:
        raise EditorError(str(exc)) from None


# --- History and diffs ----------------------------------------------------------------


@dataclass(frozen=True)
class DiffRow:
    """One line of a side-by-side-free diff: kind is ``same``, ``added`` or ``removed``."""

    kind: str
    old_line: int | None
    new_line: int | None
    text: str


@dataclass
class VersionDiff:
    old: PolicyVersion
    new: PolicyVersion
    rows: list[DiffRow] = field(default_factory=list)
    added: int = 0
    removed: int = 0


async def get_version(session: AsyncSession, number: int) -> PolicyVersion:
    found = (
        await session.exec(select(PolicyVersion).where(PolicyVersion.version == number))
    ).first()
    if found is None:
        raise EditorError(f"There is no policy version {number}.")
    return found


def diff_texts(old: str, new: str, context: int = 3) -> list[DiffRow]:
    """Line diff with a few lines of context; gaps are marked by a ``gap`` row."""
    a, b = old.splitlines(), new.splitlines()
    rows: list[DiffRow] = []
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    for group in matcher.get_grouped_opcodes(context):
        if rows:
            rows.append(DiffRow("gap", None, None, "…"))
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                rows += [
                    DiffRow("same", i + 1, j1 + k + 1, a[i]) for k, i in enumerate(range(i1, i2))
                ]
                continue
            if tag in ("replace", "delete"):
                rows += [DiffRow("removed", i + 1, None, a[i]) for i in range(i1, i2)]
            if tag in ("replace", "insert"):
                rows += [DiffRow("added", None, j + 1, b[j]) for j in range(j1, j2)]
    return rows


async def diff_versions(session: AsyncSession, old_number: int, new_number: int) -> VersionDiff:
    old = await get_version(session, old_number)
    new = await get_version(session, new_number)
    rows = diff_texts(old.yaml_text, new.yaml_text)
    return VersionDiff(
        old,
        new,
        rows,
        added=sum(r.kind == "added" for r in rows),
        removed=sum(r.kind == "removed" for r in rows),
    )


# --- Preview --------------------------------------------------------------------------


@dataclass(frozen=True)
class PreviewLine:
    line_ref: str
    title: str
    variant_title: str
    returnable: int


@dataclass(frozen=True)
class PreviewOrder:
    order_id: int
    number: str
    lines: list[PreviewLine]


async def find_preview_order(session: AsyncSession, number: str) -> PreviewOrder:
    """The order a merchant wants to try the draft on, by its number."""
    number = number.strip().lstrip("#")
    if not number:
        raise EditorError("Enter an order number to preview against.")
    order = (await session.exec(select(Order).where(Order.number == number))).first()
    if order is None:
        raise EditorError(f"There is no order {number}.")
    lines = (
        await session.exec(
            select(OrderLine).where(OrderLine.order_id == order.id).order_by(col(OrderLine.id))
        )
    ).all()
    return PreviewOrder(
        id_of(order),
        order.number,
        [
            PreviewLine(
                line.line_ref,
                line.title,
                line.variant_title,
                max(0, line.quantity - line.returned_quantity),
            )
            for line in lines
        ],
    )


@dataclass(frozen=True)
class Preview:
    order: PreviewOrder
    decision: dict[str, Any]
    titles: dict[str, str]


async def preview(
    session: AsyncSession,
    text: str,
    order_number: str,
    items: list[tuple[str, int, str]],
    as_of: datetime | None = None,
) -> Preview:
    """Evaluate the draft for ``items`` (line ref, quantity, reason) of an order. Writes nothing.

    Raises PolicyLoadError for a bad draft and EditorError for a bad request.
    """
    policy = compiled(text, "policy")
    order = await find_preview_order(session, order_number)
    if not items:
        raise EditorError("Choose at least one item and a reason to preview.")
    known = {line.line_ref for line in order.lines}
    for ref, quantity, reason in items:
        if ref not in known:
            raise EditorError(f"Order {order.number} has no line {ref}.")
        if quantity < 1:
            raise EditorError(f"Choose how many of line {ref} to return (at least 1).")
        if reason not in policy.reasons:
            raise EditorError(
                f"Choose a reason for line {ref}: the draft's reasons are "
                f"{', '.join(policy.reasons)}."
            )
    ctx = await load_order_context(session, order.order_id)
    assert ctx is not None
    try:
        request = ctx.request([Item(r, q, why) for r, q, why in items], as_of or utcnow())
        decision = evaluate(policy, request)
    except RequestError as exc:
        raise EditorError(str(exc)) from None
    titles = {
        line.line_ref: f"{line.title}" + (f" ({line.variant_title})" if line.variant_title else "")
        for line in order.lines
    }
    return Preview(order, decision.to_dict(), titles)


# --- Backtest -------------------------------------------------------------------------


async def run_backtest(
    session: AsyncSession, text: str, days: int, now: datetime | None = None
) -> BacktestReport:
    """Replay the last ``days`` days of returns under the draft (PolicyLoadError if bad)."""
    if not 1 <= days <= MAX_BACKTEST_DAYS:
        raise EditorError(f"Choose between 1 and {MAX_BACKTEST_DAYS} days of returns.")
    since = (now or utcnow()) - timedelta(days=days)
    return await backtest_candidate(session, text, since, "policy")


__all__ = [
    "EditorError",
    "PolicyLoadError",
    "Validation",
    "diff_texts",
    "diff_versions",
    "discard_draft",
    "editor_state",
    "find_preview_order",
    "get_draft",
    "preview",
    "publish_text",
    "rollback_to",
    "run_backtest",
    "save_draft",
    "validate",
]
