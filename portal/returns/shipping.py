"""Labels, packing slips and tracking for a return: what the carrier jobs decide and record.

The jobs call the carrier (I/O, outside any transaction) and then hand the result to these
functions, which check the return's state, record the outcome with its audit event and
queue the shopper's e-mail in one transaction. Tracking only ever moves a return forward:
a late or repeated event changes nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.audit import record
from portal.carriers.base import (
    Address,
    Label,
    LabelRequest,
    Parcel,
    TrackingStatus,
    TrackingUpdate,
)
from portal.documents.slip import SlipData, SlipLine, StoreBranding
from portal.errors import Conflict
from portal.jobs.outbox import enqueue
from portal.models.audit import AuditEvent as AuditEventModel
from portal.models.orders import Customer, Order, OrderLine
from portal.models.policy import PolicyVersion
from portal.models.returns import (
    RETURN_PROGRESS,
    RETURN_TRACKED,
    LabelState,
    Return,
    ReturnLine,
    ReturnStatus,
)
from portal.policy.versions import compiled
from portal.returns import states
from portal.returns.links import LinkSigner
from portal.returns.notify import ShopperEmail, notify_shopper
from portal.returns.states import TransitionError, can_transition, transition

# A default parcel per product type, used to size the label unless the merchant set their own
# (store settings, portal.merchant.store_settings).
DEFAULT_PARCELS: dict[str, tuple[float, float, float, float]] = {
    # length, width, height (inches), weight per unit (ounces)
    "footwear": (14, 10, 5, 40),
    "outerwear": (16, 12, 6, 36),
    "bottoms": (12, 10, 3, 20),
    "tops": (12, 10, 2, 10),
    "accessories": (9, 6, 2, 6),
    "swimwear": (9, 6, 2, 6),
}
FALLBACK_PARCEL = (12, 9, 4, 16)

# How far along the parcel is; a return never moves to a lower rank.
_RANK = {status: rank for rank, status in enumerate(RETURN_PROGRESS)}
_TRACKING_TO_STATUS = {
    TrackingStatus.IN_TRANSIT: ReturnStatus.IN_TRANSIT,
    TrackingStatus.OUT_FOR_DELIVERY: ReturnStatus.IN_TRANSIT,
    TrackingStatus.DELIVERED: ReturnStatus.DELIVERED,
}
_RESOLUTION_LABELS = {
    "exchange": "Exchange",
    "store_credit": "Store credit",
    "refund": "Refund",
    "keep_item": "Keep the item",
}


class ShippingError(Conflict):
    """The return cannot ship as it stands (no address, unknown warehouse)."""


def _text(value: Any) -> str:
    return str(value).strip() if value is not None else ""


def shopper_address(order: Order, email: str) -> Address:
    a = order.shipping_address
    return Address(
        name=_text(a.get("name")) or email,
        street1=_text(a.get("street1")),
        street2=_text(a.get("street2")) or None,
        city=_text(a.get("city")),
        state=_text(a.get("state")),
        zip=_text(a.get("postal_code")),
        country=_text(a.get("country")) or "US",
        phone=_text(a.get("phone")) or None,
        email=email,
        company=_text(a.get("company")) or None,
    )


def warehouse_address(policy: Any, destination: str) -> tuple[str, Address]:
    warehouses = policy.warehouses
    warehouse = warehouses.get(destination) or next(iter(warehouses.values()))
    raw = warehouse.address
    if isinstance(raw, str):
        parts = [p.strip() for p in raw.replace("\n", ",").split(",") if p.strip()]
        fields = {"street1": parts[0] if parts else "", "city": parts[1] if len(parts) > 1 else ""}
    else:
        fields = {
            "street1": raw.get("line1") or raw.get("street1") or raw.get("street", ""),
            "street2": raw.get("line2") or raw.get("street2"),
            "city": raw.get("city", ""),
            "state": raw.get("region") or raw.get("state", ""),
            "zip": raw.get("postal_code") or raw.get("zip", ""),
            "country": raw.get("country", "US"),
            "phone": raw.get("phone"),
        }
    return warehouse.name, Address(
        name=warehouse.name,
        street1=_text(fields.get("street1")),
        street2=_text(fields.get("street2")) or None,
        city=_text(fields.get("city")),
        state=_text(fields.get("state")),
        zip=_text(fields.get("zip")),
        country=_text(fields.get("country")) or "US",
        phone=_text(fields.get("phone")) or None,
        company=warehouse.name,
    )


def parcel_for(
    items: list[tuple[str, int]],
    sizes: Mapping[str, Sequence[float]] | None = None,
    fallback: Sequence[float] | None = None,
) -> Parcel:
    """The box: the largest size among the items, their weights summed.

    ``sizes``/``fallback`` are the merchant's parcel sizes (store settings); the shipped
    defaults otherwise.
    """
    table = DEFAULT_PARCELS if sizes is None else sizes
    other = fallback if fallback is not None else FALLBACK_PARCEL
    dims = [table.get((kind or "").lower(), other) for kind, _ in items] or [other]
    length = max(d[0] for d in dims)
    width = max(d[1] for d in dims)
    height = max(d[2] for d in dims)
    weight = sum(table.get((kind or "").lower(), other)[3] * qty for kind, qty in items) or other[3]
    return Parcel(length_in=length, width_in=width, height_in=height, weight_oz=weight)


@dataclass(frozen=True)
class ReturnShipment:
    ret: Return
    order: Order
    lines: list[tuple[ReturnLine, OrderLine]]
    policy: Any
    warehouse_name: str
    warehouse: Address
    shopper: Address


async def load_shipment(session: AsyncSession, return_id: int) -> ReturnShipment | None:
    ret = await session.get(Return, return_id)
    if ret is None:
        return None
    order = await session.get(Order, ret.order_id)
    version = (
        await session.get(PolicyVersion, ret.policy_version_id) if ret.policy_version_id else None
    )
    if order is None or version is None:
        raise ShippingError(f"Return {ret.rma} has no order or policy version.")
    policy = compiled(version.yaml_text, f"v{version.version}").policy
    rows = (
        await session.exec(
            select(ReturnLine, OrderLine)
            .join(OrderLine, col(OrderLine.id) == ReturnLine.order_line_id)
            .where(ReturnLine.return_id == ret.id)
            .order_by(col(ReturnLine.id))
        )
    ).all()
    name, warehouse = warehouse_address(policy, ret.destination)
    customer = await session.get(Customer, order.customer_id) if order.customer_id else None
    shopper = shopper_address(order, order.email)
    if customer and customer.name and not order.shipping_address.get("name"):
        shopper = Address(**{**shopper.__dict__, "name": customer.name})
    return ReturnShipment(
        ret=ret,
        order=order,
        lines=list(rows),
        policy=policy,
        warehouse_name=name,
        warehouse=warehouse,
        shopper=shopper,
    )


def label_request(
    shipment: ReturnShipment,
    carriers: tuple[str, ...] = (),
    services: tuple[str, ...] = (),
    parcels: Mapping[str, Sequence[float]] | None = None,
    fallback_parcel: Sequence[float] | None = None,
) -> LabelRequest:
    """What to buy; ``carriers``/``services`` are the merchant's preferences, in order
    (the cheapest rate otherwise), ``parcels`` the merchant's parcel sizes."""
    ships = [
        (ol.product_type, rl.quantity)
        for rl, ol in shipment.lines
        if not rl.decision.get("keep_item")
    ]
    return LabelRequest(
        reference=shipment.ret.rma,
        from_address=shipment.shopper,
        to_address=shipment.warehouse,
        parcel=parcel_for(ships, parcels, fallback_parcel),
        is_return=True,
        preferred_carriers=carriers,
        preferred_services=services,
        idempotency_key=f"label:{shipment.ret.rma}",
    )


async def record_label(
    session: AsyncSession, return_id: int, label: Label, label_path: str, signer: LinkSigner
) -> bool:
    """Keep the bought label and move the return to ``label_issued``.

    Returns False when the return no longer wants a label (cancelled or expired while the
    carrier was working): the caller must void it.
    """
    ret = await session.get(Return, return_id, with_for_update=True)
    if ret is None:
        return False
    if ret.label_state == LabelState.READY and ret.tracking_code == label.tracking_code:
        return True  # a retried job after a crash: already recorded
    if ret.status != ReturnStatus.APPROVED:
        return False
    await states.issue_label(
        session,
        ret,
        "system",
        "prepaid label bought",
        data={"carrier": label.carrier, "tracking_code": label.tracking_code},
        values={
            "label_error": None,
            "carrier": label.carrier,
            "service": label.service,
            "tracking_code": label.tracking_code,
            "shipment_id": label.shipment_id,
            "tracker_id": label.tracker_id,
            "label_cost": label.rate_amount,
            "label_path": label_path,
            "tracking_status": TrackingStatus.PRE_TRANSIT.value,
        },
    )
    order = await session.get_one(Order, ret.order_id)
    await notify_shopper(session, ret, order, ShopperEmail.LABEL_READY, signer)
    await session.commit()
    return True


async def record_shipment(session: AsyncSession, return_id: int, shipment_id: str) -> str | None:
    """Keep the id of the carrier shipment about to be bought, before buying it.

    Committed on its own, so a job that dies after the carrier sold the postage but before
    `record_label` committed finds the shipment on its retry and resumes that purchase
    rather than buying a second label. Returns the shipment id to buy: one recorded earlier
    (a concurrent or earlier attempt) wins; None when the return no longer wants a label.
    """
    ret = await session.get(Return, return_id, with_for_update=True)
    if ret is None or ret.status != ReturnStatus.APPROVED or ret.label_state == LabelState.READY:
        await session.rollback()
        return None
    if ret.shipment_id:
        kept = ret.shipment_id
        await session.rollback()
        return kept
    await states.request_label(
        session,
        ret,
        "system",
        action="label_shipment_created",
        data={"shipment": shipment_id},
        values={"shipment_id": shipment_id},
    )
    await session.commit()
    return shipment_id


async def record_label_failure(
    session: AsyncSession,
    return_id: int,
    message: str,
    retryable: bool,
    *,
    forget_shipment: bool = False,
) -> None:
    """Show the failure on the return; a retryable one stays pending for the next try.

    ``forget_shipment``: the carrier refused to sell postage for the recorded shipment
    (no rates, bad address), so nothing was bought and a retry (say, after staff fixed the
    address) must create a new shipment instead of resuming that one.
    """
    ret = await session.get(Return, return_id, with_for_update=True)
    if ret is None or ret.label_state in (LabelState.READY, LabelState.VOIDED):
        return
    await states.fail_label(
        session, ret, message, retryable=retryable, forget_shipment=forget_shipment
    )
    await session.commit()


async def record_void(session: AsyncSession, return_id: int, voided: bool) -> None:
    ret = await session.get(Return, return_id, with_for_update=True)
    if ret is None or ret.label_state == LabelState.VOIDED:
        return
    if voided:
        await states.void_label(session, ret)
    else:
        await record(session, "system", "return", ret.id, "label_void_refused")
    await session.commit()


def _forward_status(current: ReturnStatus, update: TrackingUpdate) -> ReturnStatus | None:
    target = _TRACKING_TO_STATUS.get(update.status)
    if target is None or current not in _RANK:
        return None
    if _RANK[target] <= _RANK[current] or not can_transition(current, target):
        return None
    return target


async def apply_tracking(
    session: AsyncSession, update: TrackingUpdate, signer: LinkSigner, source: str
) -> str | None:
    """Apply a carrier update to the return with this tracking code; forward moves only.

    Returns the new status, or None when nothing changed (late, repeated or unknown).
    """
    ret = (
        await session.exec(
            select(Return).where(Return.tracking_code == update.tracking_code).with_for_update()
        )
    ).first()
    if ret is None:
        return None
    target = _forward_status(ret.status, update)
    if target is None:
        if update.status.value != ret.tracking_status and ret.status in RETURN_TRACKED:
            ret.tracking_status = update.status.value
            session.add(ret)
            await session.commit()
        return None
    try:
        await transition(
            session,
            ret,
            target,
            actor=f"carrier:{source}",
            reason=update.status_detail or update.status.value,
            data={
                "tracking_status": update.status.value,
                "occurred_at": update.occurred_at.isoformat(),
            },
            values={"tracking_status": update.status.value},
        )
    except TransitionError:
        await session.rollback()
        return None
    order = await session.get_one(Order, ret.order_id)
    await notify_shopper(session, ret, order, ShopperEmail(target), signer)
    await session.commit()
    return target


def slip_data(
    shipment: ReturnShipment, store: dict[str, Any], status_url: str, logo: str | None = None
) -> SlipData:
    """The slip's content; ``logo`` is the store's logo as a ``data:`` URI (documents never
    fetch from the network)."""
    reasons = {r.code: r.label for r in shipment.policy.reasons}
    lines = tuple(
        SlipLine(
            title=ol.title,
            variant=ol.variant_title,
            sku=ol.sku,
            quantity=rl.quantity,
            reason_label=reasons.get(rl.reason_code, rl.reason_code),
            resolution_label=_RESOLUTION_LABELS.get(rl.resolution, rl.resolution),
        )
        for rl, ol in shipment.lines
        if not rl.decision.get("keep_item")
    )
    return SlipData(
        brand=StoreBranding(name=store["name"], logo_url=logo, primary_colour=store["brand_color"]),
        rma=shipment.ret.rma,
        status_url=status_url,
        created_at=shipment.ret.created_at,
        shopper_name=shipment.shopper.name,
        shopper_address=shipment.shopper.lines(),
        warehouse_name=shipment.warehouse_name,
        warehouse_address=shipment.warehouse.lines(),
        lines=lines,
    )


def slip_fingerprint(slip: SlipData) -> str:
    """Identifies the slip's content, so it is rendered once per distinct return content."""
    text = repr((slip.brand, slip.rma, slip.shopper_address, slip.warehouse_address, slip.lines))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


async def record_slip(session: AsyncSession, return_id: int, slip_path: str) -> None:
    ret = await session.get(Return, return_id, with_for_update=True)
    if ret is None or ret.slip_path == slip_path:
        return
    ret.slip_path = slip_path
    session.add(ret)
    await record(session, "system", "return", ret.id, "slip_rendered", data={"path": slip_path})
    await session.commit()


async def failed_labels(session: AsyncSession, limit: int = 100) -> list[Return]:
    """Returns whose label could not be bought and will not be retried by themselves."""
    return list(
        (
            await session.exec(
                select(Return)
                .where(
                    Return.label_state == LabelState.FAILED, Return.status == ReturnStatus.APPROVED
                )
                .order_by(col(Return.updated_at))
                .limit(limit)
            )
        ).all()
    )


async def retry_label(session: AsyncSession, return_id: int, actor: str) -> Return:
    """Staff fixed the cause (say, the address): try buying the label again."""
    ret = await session.get(Return, return_id, with_for_update=True)
    if ret is None or ret.label_state != LabelState.FAILED or ret.status != ReturnStatus.APPROVED:
        raise ShippingError("That return has no failed label to retry.", kind="not_found")

    attempts = len(
        (
            await session.exec(
                select(AuditEventModel.id).where(
                    AuditEventModel.entity_type == "return",
                    AuditEventModel.entity_id == ret.id,
                    AuditEventModel.action == "label_retried",
                )
            )
        ).all()
    )
    await states.request_label(
        session, ret, actor, action="label_retried", reason=ret.label_error or ""
    )
    await enqueue(
        session, "issue_label", {"return_id": ret.id}, key=f"label:{ret.rma}:retry:{attempts + 1}"
    )
    await session.commit()
    return ret


def stored_document(data_dir: Path, stored: str | None) -> Path | None:
    """The file of a stored label or slip, only if it lies inside the data folder.

    Jobs store paths relative to the data folder (so the folder can move); absolute paths
    from older rows are accepted too. A path that leaves the data folder is never used.
    """
    if not stored:
        return None
    root = data_dir.resolve()
    path = Path(stored)
    for candidate in [path] if path.is_absolute() else [root / path, path]:
        resolved = candidate.resolve()
        if root in resolved.parents and resolved.is_file():
            return resolved
    return None
