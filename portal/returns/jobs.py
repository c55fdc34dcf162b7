"""The returns' outbox jobs (labels, slips, tracking) and their scheduled scans.

Each job checks the state it changes, so running twice is safe. The merchant's settings
reach these jobs through the job context (``ctx.store_settings``, ``ctx.store_logo``), so
this package does not import the merchant console's.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from portal.carriers.base import (
    AddressInvalid,
    CarrierError,
    NoRates,
    TrackingStatus,
    TrackingUpdate,
)
from portal.documents.slip import render_packing_slip
from portal.jobs.names import Job
from portal.jobs.outbox import enqueue
from portal.jobs.registry import Jobs, Scan
from portal.models.base import utcnow
from portal.models.outbox import ReceivedWebhook
from portal.models.returns import RETURN_TRACKED, LabelState, Return, ReturnStatus
from portal.returns.links import LinkSigner
from portal.returns.shipping import (
    apply_tracking,
    label_request,
    load_shipment,
    record_label,
    record_label_failure,
    record_shipment,
    record_slip,
    record_void,
    slip_data,
    slip_fingerprint,
)
from portal.returns.timelines import (
    escalate_overdue_refunds,
    expire_store_credit,
    expire_unshipped,
    send_reminders,
)


def _signer(ctx: Any) -> LinkSigner:
    return LinkSigner(ctx.settings.ensure_secret_key())


async def _branding(ctx: Any, session: Any) -> dict[str, Any]:
    """The store's effective branding (merchant settings over the environment), read now."""
    effective = await ctx.store_settings(session)
    branding: dict[str, Any] = effective.branding.absolute(ctx.settings.base_url).as_dict()
    return branding


def _document_path(ctx: Any, folder: str, name: str) -> tuple[Path, str]:
    """Where a document goes, and the path kept on the return (relative to the data folder)."""
    relative = f"{folder}/{name}"
    path = Path(ctx.settings.data_dir) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    return path, relative


async def issue_label(ctx: Any, *, message_id: int, return_id: int) -> None:
    """Buy the prepaid label for an approved return and keep its PDF.

    Address or rate problems end in a clear ``label_state`` on the return; timeouts and
    carrier outages are retried by the outbox.

    The purchase is resumable: the carrier shipment is created and its id committed on the
    return *before* postage is bought, and a retry (the worker died, or recording the label
    failed, after the carrier sold it) hands that id back to the carrier, which reuses the
    shipment's label if it was bought instead of buying a second one.
    """
    async with ctx.db.session() as session:
        shipment = await load_shipment(session, return_id)
        if shipment is None or shipment.ret.label_state == LabelState.READY:
            return
        if shipment.ret.status != ReturnStatus.APPROVED:
            return  # cancelled, expired or rejected before the label was bought
        effective = await ctx.store_settings(session)  # merchant's over env defaults
        request = label_request(
            shipment,
            effective.carrier_preferences,
            effective.service_preferences,
            effective.parcels,
            effective.fallback_parcel,
        )
        rma = shipment.ret.rma
        shipment_id = shipment.ret.shipment_id
    buying = False
    try:
        if shipment_id is None:
            created = await asyncio.to_thread(ctx.carrier.create_shipment, request)
            async with ctx.db.session() as session:
                shipment_id = await record_shipment(session, return_id, created)
            if shipment_id is None:
                return  # closed meanwhile; an unbought shipment costs nothing
        buying = True
        label = await asyncio.to_thread(ctx.carrier.buy_label, request, shipment_id)
    except CarrierError as exc:
        # No rates or a refused address for the recorded shipment: nothing was bought, so
        # forget it and let a retry (after the address is fixed) start a new one.
        forget = buying and isinstance(exc, NoRates | AddressInvalid)
        async with ctx.db.session() as session:
            await record_label_failure(
                session, return_id, str(exc), bool(exc.retryable), forget_shipment=forget
            )
        if exc.retryable:
            raise
        return
    path, stored = _document_path(ctx, "labels", f"{rma}.pdf")
    await asyncio.to_thread(path.write_bytes, label.label_pdf)
    async with ctx.db.session() as session:
        kept = await record_label(session, return_id, label, stored, _signer(ctx))
    if not kept:  # the return was closed while we bought: give the postage back
        voided = await asyncio.to_thread(ctx.carrier.void_label, label.shipment_id)
        async with ctx.db.session() as session:
            await record_void(session, return_id, voided)


async def render_slip(ctx: Any, *, message_id: int, return_id: int) -> None:
    """Render the packing slip once per distinct content and keep it in storage."""
    async with ctx.db.session() as session:
        shipment = await load_shipment(session, return_id)
        if shipment is None:
            return
        order_id, rma = shipment.order.id, shipment.ret.rma
        assert order_id is not None  # a stored order
        status_url = ctx.settings.base_url + _signer(ctx).path(order_id, rma)
        logo = await ctx.store_logo(session)
        data = slip_data(shipment, await _branding(ctx, session), status_url, logo)
    path, stored = _document_path(ctx, "slips", f"{rma}-{slip_fingerprint(data)}.pdf")
    if not path.exists():
        pdf = await asyncio.to_thread(render_packing_slip, data)
        tmp = path.with_suffix(".tmp")
        await asyncio.to_thread(tmp.write_bytes, pdf)
        tmp.replace(path)
    async with ctx.db.session() as session:
        await record_slip(session, return_id, stored)


async def void_label(ctx: Any, *, message_id: int, return_id: int, **_: Any) -> None:
    """Refund an unused label (the return was cancelled or expired before shipping)."""
    async with ctx.db.session() as session:
        ret = await session.get(Return, return_id)
        if ret is None or not ret.shipment_id or ret.label_state != LabelState.READY:
            return
        shipment_id = ret.shipment_id
    voided = await asyncio.to_thread(ctx.carrier.void_label, shipment_id)
    async with ctx.db.session() as session:
        await record_void(session, return_id, voided)


async def refresh_tracking(ctx: Any, *, message_id: int, return_id: int, **_: Any) -> None:
    """Ask the carrier where the parcel is (covers webhooks that never came)."""
    async with ctx.db.session() as session:
        ret = await session.get(Return, return_id)
        if ret is None or not ret.tracking_code or ret.status not in RETURN_TRACKED:
            return
        code, tracker_id = ret.tracking_code, ret.tracker_id
    update = await asyncio.to_thread(ctx.carrier.track, code, tracker_id)
    async with ctx.db.session() as session:
        await apply_tracking(session, update, _signer(ctx), source="refresh")


async def apply_tracking_event(ctx: Any, *, message_id: int, webhook_id: int) -> None:
    """Apply one verified carrier webhook, stored when it arrived."""
    async with ctx.db.session() as session:
        hook = await session.get(ReceivedWebhook, webhook_id)
        if hook is None or hook.processed_at is not None:
            return
        update = tracking_update_from_json(hook.payload["update"])
        await apply_tracking(session, update, _signer(ctx), source="webhook")
        hook = await session.get(ReceivedWebhook, webhook_id)
        hook.processed_at = utcnow()
        session.add(hook)
        await session.commit()


def tracking_update_to_json(update: TrackingUpdate) -> dict[str, Any]:
    return {
        "tracking_code": update.tracking_code,
        "status": update.status.value,
        "status_detail": update.status_detail,
        "occurred_at": update.occurred_at.isoformat(),
    }


def tracking_update_from_json(data: dict[str, Any]) -> TrackingUpdate:
    return TrackingUpdate(
        tracking_code=data["tracking_code"],
        status=TrackingStatus(data["status"]),
        status_detail=data.get("status_detail"),
        occurred_at=datetime.fromisoformat(data["occurred_at"]),
    )


JOBS: Jobs = {
    Job.ISSUE_LABEL: issue_label,
    Job.RENDER_SLIP: render_slip,
    Job.VOID_LABEL: void_label,
    Job.REFRESH_TRACKING: refresh_tracking,
    Job.APPLY_TRACKING_EVENT: apply_tracking_event,
}


# --- scheduled scans (run once a minute by the scheduler, ``portal.jobs.schedule``) ------


def _bucket(ctx: Any, minutes: float) -> int:
    return int(ctx.now().timestamp() // (minutes * 60))


async def refresh_trackers(ctx: Any) -> int:
    """Ask the carrier about parcels on their way (webhooks can be missed).

    The sandbox is asked every minute so the demo moves; a real carrier every
    ``PORTAL_TRACKING_REFRESH_MINUTES``.
    """
    minutes = ctx.settings.tracking_refresh_minutes if ctx.settings.easypost_api_key else 1
    bucket = _bucket(ctx, minutes)
    queued = 0
    async with ctx.db.session() as session:
        rows = (
            await session.exec(
                select(Return.id, Return.rma).where(
                    col(Return.status).in_(RETURN_TRACKED),
                    col(Return.tracking_code).is_not(None),
                )
            )
        ).all()
        for return_id, rma in rows:
            if await enqueue(
                session, Job.REFRESH_TRACKING, {"return_id": return_id}, key=f"track:{rma}:{bucket}"
            ):
                queued += 1
        await session.commit()
    return queued


async def remind_unshipped(ctx: Any) -> int:
    return await send_reminders(ctx.db, ctx.now(), _signer(ctx))


async def expire_unshipped_returns(ctx: Any) -> int:
    return len(await expire_unshipped(ctx.db, ctx.now(), _signer(ctx)))


async def escalate_refunds(ctx: Any) -> int:
    return await escalate_overdue_refunds(ctx.db, ctx.now())


async def expire_credit(ctx: Any) -> int:
    return await expire_store_credit(ctx.db, ctx.now())


SCANS: dict[str, Scan] = {
    "refresh_trackers": refresh_trackers,
    "remind_unshipped": remind_unshipped,
    "expire_unshipped": expire_unshipped_returns,
    "escalate_refunds": escalate_refunds,
    "expire_store_credit": expire_credit,
}
