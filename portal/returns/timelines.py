"""The policy's timelines, applied by the scheduler: reminders, expiry, refund deadlines,
store-credit expiry.

Days are counted in the timezone of the policy each return was decided under, like the
return window: a reminder "after 7 days" goes out from the start of the 7th local day, and
a return "shipped within 14 days" expires once the 14th local day has ended. Each item is
handled in its own transaction with an outbox key that names the effect, so a tick that
runs twice changes nothing the second time.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import col, select

from portal.audit import record
from portal.db import Database
from portal.jobs.outbox import enqueue
from portal.models.money import REFUND_UNDECIDED, Refund, StoreCreditCode, StoreCreditEntry
from portal.models.orders import Order
from portal.models.policy import PolicyVersion
from portal.models.returns import RETURN_EXPIRABLE, LabelState, Return, ReturnStatus
from portal.policy.versions import compiled
from portal.returns import states
from portal.returns.lifecycle import call_off
from portal.returns.links import LinkSigner
from portal.returns.notify import ShopperEmail, notify_shopper
from portal.returns.states import TransitionError, keeps_everything


def local_day_start(moment: datetime, days: int, tz: ZoneInfo) -> datetime:
    """The start of the local day ``days`` after ``moment``'s local day, in UTC."""
    day = moment.astimezone(tz).date() + timedelta(days=days)
    return datetime.combine(day, time(0), tz).astimezone(UTC)


def local_day_end(moment: datetime, days: int, tz: ZoneInfo) -> datetime:
    """The end of the local day ``days`` after ``moment``'s local day (exclusive), in UTC."""
    return local_day_start(moment, days + 1, tz)


async def _timelines(session: Any, version_id: int | None, cache: dict[int, Any]) -> Any:
    if version_id is None:
        return None
    if version_id not in cache:
        version = await session.get(PolicyVersion, version_id)
        cache[version_id] = compiled(version.yaml_text, f"v{version.version}") if version else None
    return cache[version_id]


async def send_reminders(db: Database, now: datetime, signer: LinkSigner) -> int:
    """Remind shoppers whose label is ready but whose parcel has not moved."""
    cache: dict[int, Any] = {}
    sent = 0
    async with db.session() as session:
        candidates = (
            await session.exec(
                select(Return).where(
                    Return.status == ReturnStatus.LABEL_ISSUED, col(Return.approved_at).is_not(None)
                )
            )
        ).all()
        for ret in candidates:
            policy = await _timelines(session, ret.policy_version_id, cache)
            if policy is None or ret.approved_at is None:  # (the query skips the unapproved)
                continue
            days = policy.policy.timelines.remind_after_days
            if now < local_day_start(ret.approved_at, days, policy.tz):
                continue
            order = await session.get_one(Order, ret.order_id)
            await notify_shopper(session, ret, order, ShopperEmail.REMINDER, signer)
            await session.commit()
            sent += 1
    return sent


async def expire_unshipped(db: Database, now: datetime, signer: LinkSigner) -> list[str]:
    """Close approved returns that were not sent back in time: free exchange stock, void
    the label, take back unspent store credit issued at approval for the items that had to
    come back, tell the shopper. Returns the RMAs expired. A return whose every item the
    shopper keeps has nothing to send and is never expired (it is settled at approval)."""
    cache: dict[int, Any] = {}
    expired: list[str] = []
    async with db.session() as session:
        candidates = (
            await session.exec(
                select(Return.id, Return.policy_version_id, Return.approved_at).where(
                    col(Return.status).in_(RETURN_EXPIRABLE),
                    col(Return.approved_at).is_not(None),
                )
            )
        ).all()
        due: list[int] = []
        for return_id, version_id, approved_at in candidates:
            policy = await _timelines(session, version_id, cache)
            # (ids are primary keys, and the query skips the unapproved)
            if policy is None or return_id is None or approved_at is None:
                continue
            days = policy.policy.timelines.ship_within_days
            if now >= local_day_end(approved_at, days, policy.tz):
                due.append(return_id)
    for return_id in due:
        async with db.session() as session:
            ret = (
                await session.exec(select(Return).where(Return.id == return_id).with_for_update())
            ).first()
            if ret is None or ret.status not in RETURN_EXPIRABLE:
                continue
            if ret.status == ReturnStatus.APPROVED and await keeps_everything(session, return_id):
                # Nothing was ever to be shipped: settled at approval, never expired.
                await session.rollback()
                continue
            had_label = ret.label_state == LabelState.READY
            done = await call_off(
                session,
                ret,
                "expired",
                "system",
                f"Return {ret.rma} expired unshipped; the store credit for the items "
                "that had to come back is no longer due.",
            )
            try:
                await states.expire(
                    session,
                    ret,
                    "system",
                    "Not shipped within the policy's time limit.",
                    data={"released_exchanges": done.cancelled_exchanges},
                )
            except TransitionError:
                await session.rollback()
                continue
            if had_label:
                await enqueue(
                    session, "void_label", {"return_id": ret.id}, key=f"void_label:{ret.rma}"
                )
            order = await session.get_one(Order, ret.order_id)
            await notify_shopper(session, ret, order, ShopperEmail.EXPIRED, signer)
            await session.commit()
            expired.append(ret.rma)
    return expired


async def escalate_overdue_refunds(db: Database, now: datetime) -> int:
    """Flag refunds past their deadline for finance (once each, audited)."""
    async with db.session() as session:
        overdue = (
            await session.exec(
                select(Refund)
                .where(
                    col(Refund.status).in_(REFUND_UNDECIDED),
                    col(Refund.due_at).is_not(None),
                    col(Refund.due_at) < now,
                    col(Refund.escalated_at).is_(None),
                )
                .with_for_update()
            )
        ).all()
        for refund in overdue:
            refund.escalated_at = now
            session.add(refund)
            await record(
                session,
                "system",
                "refund",
                refund.id,
                "escalated",
                reason=f"Not issued by its deadline ({refund.due_at:%Y-%m-%d %H:%M} UTC).",
            )
        await session.commit()
        return len(overdue)


async def expire_store_credit(db: Database, now: datetime) -> int:
    """Expire what is left on codes past their expiry date (a ledger entry, never an edit)."""
    balance = sa.func.coalesce(sa.func.sum(StoreCreditEntry.amount), 0)
    async with db.session() as session:
        rows = (
            await session.exec(
                select(StoreCreditEntry.code_id, balance)
                .join(StoreCreditCode, col(StoreCreditCode.id) == StoreCreditEntry.code_id)
                .where(
                    col(StoreCreditCode.expires_at).is_not(None),
                    col(StoreCreditCode.expires_at) <= now,
                )
                .group_by(col(StoreCreditEntry.code_id))
                .having(balance > 0)
            )
        ).all()
        for code_id, left in rows:
            session.add(
                StoreCreditEntry(
                    code_id=code_id,
                    kind="expire",
                    amount=-int(left),
                    idempotency_key=f"expire:{code_id}",
                    note="Expired unused",
                    created_by="system",
                )
            )
            await session.flush()
            await record(
                session,
                "system",
                "store_credit_code",
                code_id,
                "expired",
                data={"amount": int(left)},
            )
        await session.commit()
        return len(rows)
