"""Creating a return from a shopper's choices: check, price, and confirm atomically.

``start_return`` checks the items against the active policy (nothing is written);
``price`` adds the shopper's resolution per item and works out the amounts;
``confirm_return`` does it all again inside one transaction and writes the return: RMA
number, request and decision snapshots under the policy version, exchange stock reserved
with a conditional UPDATE, audit events, outbox rows for e-mail, label and slip, and (for
a return approved at once under a policy that issues store credit instantly) the credit.
A submission key (from a hidden form field) makes a double submit create one return.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.audit import record
from portal.errors import DomainError
from portal.jobs.outbox import enqueue
from portal.models.base import id_of, utcnow
from portal.models.catalog import Variant
from portal.models.orders import Order, OrderLine
from portal.models.outbox import Media
from portal.models.returns import Exchange, Return, ReturnLine, ReturnStatus
from portal.policy import CompiledPolicy, Decision, evaluate
from portal.policy.evaluator import LineDecision, round_half_up
from portal.policy.request import Item
from portal.returns import states
from portal.returns.context import (
    ExchangeOption,
    OrderContext,
    PolicyRef,
    exchange_options,
    load_order_context,
)
from portal.returns.links import LinkSigner
from portal.returns.notify import ShopperEmail, notify_shopper, tell_store
from portal.returns.resolution import issue_on_approval
from portal.returns.returnless import settle_kept_return
from portal.returns.rma import generate_rma
from portal.returns.states import keeps_everything

RESOLUTION_LABELS = {
    "exchange": "Exchange",
    "store_credit": "Store credit",
    "refund": "Refund",
}
MAX_COMMENT = 2000


class ReturnError(DomainError):
    """The request cannot go ahead; nothing was written.

    ``problems`` maps a field key (``"line:<order line id>"``, ``"choice:<id>"``, ``"form"``)
    to a sentence for the shopper. ``kind`` lets the page say the right thing: ``invalid``
    input, a ``stale`` form (the policy changed), ``out_of_stock`` or ``closed`` (no policy).
    """


@dataclass(frozen=True, slots=True)
class ItemRequest:
    """One order line the shopper wants to send back, as they asked for it."""

    order_line_id: int
    quantity: int
    reason: str
    comment: str = ""
    photo_media_id: int | None = None


@dataclass(frozen=True, slots=True)
class Choice:
    """What the shopper wants for one item: ``exchange`` (with a variant) or money."""

    resolution: str
    variant_id: int | None = None


@dataclass(frozen=True, slots=True)
class AssessedItem:
    item: ItemRequest
    line: OrderLine
    decision: LineDecision

    @property
    def paid(self) -> int:
        """What the shopper paid for the units coming back (POLICY.md's ``paid``)."""
        q, line = self.item.quantity, self.line
        return max(0, line.unit_price * q - round_half_up(line.discount * q, line.quantity))

    def credit_bonus(self, compiled: CompiledPolicy) -> int:
        """The store-credit bonus inside ``store_credit_amount`` (after any cap)."""
        d = self.decision
        if "store_credit" not in d.resolutions:
            return 0
        base = self.paid - (0 if compiled.store_credit_fee_waived else d.restocking_fee)
        return max(0, d.store_credit_amount - base)


@dataclass(frozen=True, slots=True)
class Assessment:
    """Items checked against the active policy: every one of them is eligible."""

    ctx: OrderContext
    policy: PolicyRef
    as_of: datetime
    request: dict[str, Any]
    decision: Decision
    items: tuple[AssessedItem, ...]

    @property
    def needs_review(self) -> bool:
        return bool(self.decision.totals.require_review)


@dataclass(frozen=True, slots=True)
class QuotedItem:
    assessed: AssessedItem
    resolution: str
    refund_amount: int
    store_credit_amount: int
    restocking_fee: int
    exchange: ExchangeOption | None

    @property
    def keep_item(self) -> bool:
        return self.assessed.decision.keep_item


@dataclass(frozen=True, slots=True)
class Quote:
    """The return as it would be created: per item what the shopper gets, and totals."""

    assessment: Assessment
    items: tuple[QuotedItem, ...]
    refund_total: int
    store_credit_total: int
    label_fee: int
    needs_approval: bool
    require_review: bool
    destination: str
    ships_back: bool

    @property
    def exchange_difference(self) -> int:
        """Positive: the shopper pays more for their exchanges; negative: we pay back."""
        return sum(q.exchange.price_difference for q in self.items if q.exchange)


# --- Checking items -------------------------------------------------------------------


def assess(
    ctx: OrderContext,
    items: Sequence[ItemRequest],
    as_of: datetime | None = None,
    *,
    photos: dict[int, Media] | None = None,
    pending_photos: Collection[int] = (),
) -> Assessment:
    """Check ``items`` against the active policy; raises ReturnError naming each problem.

    ``photos`` are the stored photos of this order by id; when given, a line that needs a
    photo must name one of them. ``pending_photos`` are order line ids whose photo has been
    checked but will only be stored once the whole form is valid: they count as having one.
    """
    as_of = as_of or utcnow()
    policy = ctx.policy
    if policy is None:
        raise ReturnError("Returns are not open right now. Please try again later.", kind="closed")
    if not items:
        raise ReturnError(
            "Choose at least one item to return.", {"form": "Choose at least one item to return."}
        )
    problems: dict[str, str] = {}
    reasons = policy.compiled.reasons
    seen: set[int] = set()
    lines: list[OrderLine] = []
    for item in items:
        line = ctx.line(item.order_line_id)
        if line is None:
            raise ReturnError(
                f"One of the items sent is not part of order {ctx.order.number}.",
                {"form": f"One of the items sent is not part of order {ctx.order.number}."},
            )
        key = f"line:{line.id}"
        if line.id in seen:
            problems[key] = f"{line.title} was listed twice."
        seen.add(id_of(line))
        lines.append(line)
        if item.quantity < 1:
            problems[key] = f"Choose how many of {line.title} to return (at least 1)."
        elif item.reason not in reasons:
            problems[key] = (
                f"Choose a reason for returning {line.title}."
                if not item.reason
                else f"Choose one of the listed reasons for returning {line.title}."
            )
        elif len(item.comment) > MAX_COMMENT:
            problems[key] = (
                f"Please keep the note about {line.title} under {MAX_COMMENT} characters."
            )
        elif (
            item.photo_media_id is not None
            and photos is not None
            and (item.photo_media_id not in photos)
        ):
            problems[key] = f"The photo for {line.title} could not be found; please add it again."
    if problems:
        raise ReturnError("Some items need your attention.", problems)

    request_items = [
        Item(line.line_ref, item.quantity, item.reason)
        for line, item in zip(lines, items, strict=True)
    ]
    request = ctx.request(request_items, as_of)
    decision = evaluate(policy.compiled, request)
    assessed = []
    for line, item, line_decision in zip(lines, items, decision.lines, strict=True):
        key = f"line:{line.id}"
        if not line_decision.eligible:
            problems[key] = " ".join(line_decision.messages) or f"{line.title} can't be returned."
        elif (
            line_decision.require_photo
            and item.photo_media_id is None
            and line.id not in pending_photos
        ):
            problems[key] = f"Please add a photo of {line.title}; we need one for this reason."
        assessed.append(AssessedItem(item, line, line_decision))
    if problems:
        raise ReturnError("Some items can't be returned as chosen.", problems)
    request_json = {
        "as_of": as_of.isoformat(),
        "order": ctx.order_shape(),
        "items": [
            {"line_id": i.line_id, "quantity": i.quantity, "reason": i.reason}
            for i in request_items
        ],
    }
    return Assessment(ctx, policy, as_of, request_json, decision, tuple(assessed))


async def order_photos(
    session: AsyncSession, order_id: int, ids: Sequence[int | None]
) -> dict[int, Media]:
    """This order's photos among ``ids`` (another order's photo is simply not found)."""
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    rows = (
        await session.exec(
            select(Media).where(col(Media.id).in_(wanted), Media.order_id == order_id)
        )
    ).all()
    return {id_of(m): m for m in rows}


def _check_policy(ctx: OrderContext, policy_version_id: int | None) -> None:
    if ctx.policy is None:
        raise ReturnError("Returns are not open right now. Please try again later.", kind="closed")
    if policy_version_id is not None and ctx.policy.id != policy_version_id:
        raise ReturnError(
            "Our return policy changed while you were choosing. We've updated the page "
            "with what it means for your items; please check and try again.",
            kind="stale",
        )


async def start_return(
    session: AsyncSession,
    order_id: int,
    items: Sequence[ItemRequest],
    *,
    policy_version_id: int | None = None,
    as_of: datetime | None = None,
    pending_photos: Collection[int] = (),
) -> Assessment:
    """Check a shopper's items against the active policy. Writes nothing.

    ``pending_photos``: lines whose (already checked) photo is stored only after this passes.
    """
    ctx = await load_order_context(session, order_id)
    if ctx is None:
        raise ReturnError("We couldn't find that order.", kind="invalid")
    _check_policy(ctx, policy_version_id)
    photos = await order_photos(session, order_id, [i.photo_media_id for i in items])
    return assess(ctx, items, as_of, photos=photos, pending_photos=pending_photos)


# --- Pricing choices ------------------------------------------------------------------


def price(
    assessment: Assessment,
    choices: dict[int, Choice],
    options: dict[int, list[ExchangeOption]],
) -> Quote:
    """What the shopper gets for each item under their choices, and the return's totals.

    The evaluator prices every offered resolution; here only the chosen ones count. The
    label fee (when the policy charges one) comes out of refunds only, and store credit
    is re-evaluated over just the credit items so a bonus cap is shared among them alone.
    """
    compiled = assessment.policy.compiled
    problems: dict[str, str] = {}
    picked: list[tuple[AssessedItem, str, ExchangeOption | None]] = []
    for assessed in assessment.items:
        line = assessed.line
        key = f"choice:{line.id}"
        choice = choices.get(id_of(line))
        offered = assessed.decision.resolutions
        if choice is None or not choice.resolution:
            problems[key] = f"Choose what you'd like for {line.title}."
            continue
        if choice.resolution not in offered:
            problems[key] = f"That option isn't available for {line.title}; choose another."
            continue
        exchange = None
        if choice.resolution == "exchange":
            available = options.get(id_of(line), [])
            if choice.variant_id is None:
                problems[key] = f"Choose which size or colour of {line.title} you'd like instead."
                continue
            exchange = next((o for o in available if o.variant.id == choice.variant_id), None)
            if exchange is None:
                problems[key] = (
                    f"The {line.title} you picked is no longer in stock. Please choose another."
                )
                continue
        picked.append((assessed, choice.resolution, exchange))
    if problems:
        kinds = {
            "out_of_stock" if "no longer in stock" in p else "invalid" for p in problems.values()
        }
        raise ReturnError(
            "Some choices need your attention.",
            problems,
            kind="out_of_stock" if kinds == {"out_of_stock"} else "invalid",
        )

    credit_amounts: dict[str, int] = {}
    credit_items = [a for a, r, _ in picked if r == "store_credit"]
    if credit_items:
        offered_credit = [a for a in assessment.items if "store_credit" in a.decision.resolutions]
        if len(credit_items) == len(offered_credit):
            credit_amounts = {
                a.decision.line_id: a.decision.store_credit_amount for a in credit_items
            }
        else:
            sub = assessment.ctx.request(
                [Item(a.decision.line_id, a.item.quantity, a.item.reason) for a in credit_items],
                assessment.as_of,
            )
            credit_amounts = {
                d.line_id: d.store_credit_amount for d in evaluate(compiled, sub).lines
            }

    quoted = []
    for assessed, resolution, exchange in picked:
        d = assessed.decision
        fee = 0
        if (resolution == "refund" and not compiled.refund_fee_waived) or (
            resolution == "store_credit" and not compiled.store_credit_fee_waived
        ):
            fee = d.restocking_fee
        quoted.append(
            QuotedItem(
                assessed=assessed,
                resolution=resolution,
                refund_amount=d.refund_amount if resolution == "refund" else 0,
                store_credit_amount=credit_amounts.get(d.line_id, 0)
                if resolution == "store_credit"
                else 0,
                restocking_fee=fee,
                exchange=exchange,
            )
        )
    refund_sum = sum(q.refund_amount for q in quoted)
    label_fee = 0
    if assessment.decision.totals.label_fee > 0 and refund_sum > 0:
        label_fee = min(compiled.label_fee, refund_sum)
    refund_total = refund_sum - label_fee
    auto = compiled.auto_approve_below
    shipping = [q for q in quoted if not q.keep_item]
    destination = (shipping[0].assessed.decision.destination if shipping else None) or (
        compiled.policy.default_warehouse
    )
    return Quote(
        assessment=assessment,
        items=tuple(quoted),
        refund_total=refund_total,
        store_credit_total=sum(q.store_credit_amount for q in quoted),
        label_fee=label_fee,
        needs_approval=refund_total > 0 and (auto is None or refund_total >= auto),
        require_review=assessment.needs_review,
        destination=destination,
        ships_back=bool(shipping),
    )


# --- Confirming -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Confirmed:
    ret: Return
    created: bool


async def _lock_order(session: AsyncSession, order_id: int) -> None:
    """Serialise confirmations for one order, so two tabs cannot return the same unit twice.

    PostgreSQL takes a row lock; SQLite takes its database write lock with a no-op update
    (it must be the transaction's first statement so later reads see the latest data).
    """
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        await session.exec(select(Order.id).where(Order.id == order_id).with_for_update())
    else:
        await session.exec(
            sa.update(Order)
            .where(col(Order.id) == order_id)
            .values(id=Order.id)
            .execution_options(synchronize_session=False)
        )


async def _unused_rma(session: AsyncSession) -> str:
    while True:
        rma = generate_rma()
        if (await session.exec(select(Return.id).where(Return.rma == rma))).first() is None:
            return rma


async def _existing(session: AsyncSession, submission_key: str, order_id: int) -> Return | None:
    ret = (
        await session.exec(select(Return).where(Return.submission_key == submission_key))
    ).first()
    if ret is not None and ret.order_id != order_id:
        raise ReturnError("This form was already used. Please start again.")
    return ret


async def reserve_stock(session: AsyncSession, variant_id: int, quantity: int) -> bool:
    """Hold ``quantity`` units for an exchange if that many are free; atomic in SQL."""
    result = await session.exec(
        sa.update(Variant)
        .where(
            col(Variant.id) == variant_id,
            col(Variant.stock_on_hand) - Variant.stock_reserved >= quantity,
        )
        .values(stock_reserved=Variant.stock_reserved + quantity)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def ship_by(approved_at: datetime, policy: PolicyRef) -> datetime:
    return approved_at + timedelta(days=policy.compiled.policy.timelines.ship_within_days)


async def queue_documents(session: AsyncSession, ret: Return) -> None:
    """Outbox rows for the prepaid label and the packing slip of an approved return."""
    await enqueue(session, "issue_label", {"return_id": ret.id}, key=f"label:{ret.rma}")
    await enqueue(session, "render_slip", {"return_id": ret.id}, key=f"slip:{ret.rma}")


async def confirm_return(
    session: AsyncSession,
    *,
    order_id: int,
    items: Sequence[ItemRequest],
    choices: dict[int, Choice],
    submission_key: str,
    signer: LinkSigner,
    policy_version_id: int | None = None,
    actor: str = "shopper",
    as_of: datetime | None = None,
) -> Confirmed:
    """Create the return in one transaction (commits), or raise ReturnError having written
    nothing. The same ``submission_key`` returns the return it created the first time."""
    if not submission_key or len(submission_key) > 64:
        raise ReturnError("This form is incomplete. Please review your return and try again.")
    try:
        await _lock_order(session, order_id)
        existing = await _existing(session, submission_key, order_id)
        if existing is not None:
            await session.commit()
            return Confirmed(existing, created=False)
        ctx = await load_order_context(session, order_id)
        if ctx is None:
            raise ReturnError("We couldn't find that order.")
        _check_policy(ctx, policy_version_id)
        photos = await order_photos(session, order_id, [i.photo_media_id for i in items])
        used = (
            set(
                (
                    await session.exec(
                        select(ReturnLine.photo_media_id).where(
                            col(ReturnLine.photo_media_id).in_(list(photos))
                        )
                    )
                ).all()
            )
            if photos
            else set()
        )
        for photo_id in used:
            if photo_id is not None:  # (it is: the query matched it against photo ids)
                photos.pop(photo_id, None)
        assessment = assess(ctx, items, as_of, photos=photos)
        options = await exchange_options(
            session, [(a.line, a.item.quantity) for a in assessment.items]
        )
        quote = price(assessment, choices, options)
        ret = await _write(session, quote, submission_key, actor, signer)
        await session.commit()
        return Confirmed(ret, created=True)
    except IntegrityError:
        await session.rollback()
        existing = await _existing(session, submission_key, order_id)
        if existing is not None:
            return Confirmed(existing, created=False)
        raise
    except BaseException:
        await session.rollback()
        raise


async def _write(
    session: AsyncSession, quote: Quote, submission_key: str, actor: str, signer: LinkSigner
) -> Return:
    assessment = quote.assessment
    ctx = assessment.ctx
    policy = assessment.policy
    ret = Return(
        rma=await _unused_rma(session),
        order_id=id_of(ctx.order),
        status=ReturnStatus.REQUESTED,
        policy_version_id=policy.id,
        submission_key=submission_key,
        request=assessment.request,
        decision=assessment.decision.to_dict(),
        currency=ctx.order.currency,
        refund_total=quote.refund_total,
        store_credit_total=quote.store_credit_total,
        label_fee=quote.label_fee,
        needs_approval=quote.needs_approval,
        require_review=quote.require_review,
        destination=quote.destination,
    )
    session.add(ret)
    await session.flush()
    out_of_stock: dict[str, str] = {}
    for q in quote.items:
        a = q.assessed
        row = ReturnLine(
            return_id=id_of(ret),
            order_line_id=id_of(a.line),
            quantity=a.item.quantity,
            reason_code=a.item.reason,
            comment=a.item.comment.strip(),
            resolution=q.resolution,
            refund_amount=q.refund_amount,
            store_credit_amount=q.store_credit_amount,
            restocking_fee=q.restocking_fee,
            decision=a.decision.to_dict(),
            photo_media_id=a.item.photo_media_id,
        )
        session.add(row)
        await session.flush()
        if q.exchange is not None:
            variant = q.exchange.variant
            if not await reserve_stock(session, id_of(variant), a.item.quantity):
                out_of_stock[f"choice:{a.line.id}"] = (
                    f"{a.line.title} in {variant.title or variant.sku} just sold out. "
                    "Please choose another option."
                )
                continue
            session.add(
                Exchange(
                    return_line_id=id_of(row),
                    variant_id=id_of(variant),
                    quantity=a.item.quantity,
                    price_difference=q.exchange.price_difference,
                )
            )
    if out_of_stock:
        raise ReturnError("An exchange you chose just sold out.", out_of_stock, kind="out_of_stock")
    await session.flush()
    await record(
        session,
        actor,
        "return",
        ret.id,
        "created",
        to_state=ReturnStatus.REQUESTED,
        data={
            "rma": ret.rma,
            "policy_version": policy.version,
            "items": [
                {
                    "order_line_id": q.assessed.line.id,
                    "quantity": q.assessed.item.quantity,
                    "reason": q.assessed.item.reason,
                    "resolution": q.resolution,
                    "exchange_variant_id": q.exchange.variant.id if q.exchange else None,
                }
                for q in quote.items
            ],
        },
    )
    if not quote.require_review:
        await approve_in_transaction(
            session, ret, policy, "system", "The policy approves this return without review."
        )
    await notify_shopper(session, ret, ctx.order, ShopperEmail.CREATED, signer)
    await tell_store(session, "return.created", ret, ctx.order.number)
    return ret


async def approve_in_transaction(
    session: AsyncSession, ret: Return, policy: PolicyRef, actor: str, reason: str
) -> None:
    """requested → approved: set the ship-by date, queue label and slip if it ships, and
    issue the store credit now when the policy says ``store_credit: {issue: instant}``.

    A return whose every item the shopper keeps ships nothing: it is settled here instead
    (refund requested, store credit issued, exchanges released) and completed when nothing
    is left to pay (``portal.returns.returnless``)."""
    approved_at = utcnow()
    ships_back = not await keeps_everything(session, id_of(ret))
    values: dict[str, Any] = {}
    if ships_back:
        values = {"ship_by": ship_by(approved_at, policy)}
    await states.approve(session, ret, actor, reason, ships_back=ships_back, values=values)
    await issue_on_approval(session, ret, policy, actor)
    if ships_back:
        await queue_documents(session, ret)
    else:
        await settle_kept_return(session, ret, policy, actor)
