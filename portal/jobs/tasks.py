"""The jobs behind the outbox. Each checks the state it changes, so running twice is safe."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from portal.jobs.registry import job
from portal.notify.overrides import render_for_sending


@job("send_email")
async def send_email(
    ctx: Any,
    *,
    message_id: int,
    template: str,
    to: str,
    context: dict[str, Any],
    return_id: int | None = None,
) -> None:
    """Render and send one e-mail; the outbox row's id keys it, so it goes out once.

    The merchant's wording (``/merchant/notifications``) is read now, so an edit applies
    to every e-mail sent after it."""
    async with ctx.db.session() as session:
        email = await render_for_sending(
            session,
            template,
            to,
            {**context, "store": await _branding(ctx, session), "base_url": ctx.settings.base_url},
            return_id=return_id,
        )
    await ctx.mailer.send(email, key=f"outbox:{message_id}")


async def _branding(ctx: Any, session: Any) -> dict[str, Any]:
    """The store's effective branding (merchant settings over the environment), read now."""
    from portal.merchant.store_settings import load_effective

    effective = await load_effective(session, ctx.settings)
    return effective.branding.absolute(ctx.settings.base_url).as_dict()


async def _logo_data_uri(ctx: Any, session: Any) -> str | None:
    """The merchant's uploaded logo as a ``data:`` URI for documents, or None."""
    import base64

    from portal.merchant.store_settings import current_logo
    from portal.returns.photos import photo_file

    media = await current_logo(session)
    path = photo_file(ctx.settings.media_dir, media) if media else None
    if media is None or path is None:
        return None
    data = await asyncio.to_thread(path.read_bytes)
    return f"data:{media.content_type};base64,{base64.b64encode(data).decode('ascii')}"


def _split(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _signer(ctx: Any) -> Any:
    from portal.returns.links import LinkSigner

    return LinkSigner(ctx.settings.ensure_secret_key())


def _document_path(ctx: Any, folder: str, name: str) -> tuple[Path, str]:
    """Where a document goes, and the path kept on the return (relative to the data folder)."""
    relative = f"{folder}/{name}"
    path = Path(ctx.settings.data_dir) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    return path, relative


@job("issue_label")
async def issue_label(ctx: Any, *, message_id: int, return_id: int) -> None:
    """Buy the prepaid label for an approved return and keep its PDF.

    Address or rate problems end in a clear ``label_state`` on the return; timeouts and
    carrier outages are retried by the outbox.

    The purchase is resumable: the carrier shipment is created and its id committed on the
    return *before* postage is bought, and a retry (the worker died, or recording the label
    failed, after the carrier sold it) hands that id back to the carrier, which reuses the
    shipment's label if it was bought instead of buying a second one.
    """
    from portal.carriers.base import AddressInvalid, CarrierError, NoRates
    from portal.returns.shipping import (
        label_request,
        load_shipment,
        record_label,
        record_label_failure,
        record_shipment,
    )

    async with ctx.db.session() as session:
        shipment = await load_shipment(session, return_id)
        if shipment is None or shipment.ret.label_state == "ready":
            return
        if shipment.ret.status != "approved":
            return  # cancelled, expired or rejected before the label was bought
        from portal.merchant.store_settings import load_effective

        effective = await load_effective(session, ctx.settings)  # merchant's over env defaults
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
    from portal.returns.shipping import record_void

    async with ctx.db.session() as session:
        kept = await record_label(session, return_id, label, stored, _signer(ctx))
    if not kept:  # the return was closed while we bought: give the postage back
        voided = await asyncio.to_thread(ctx.carrier.void_label, label.shipment_id)
        async with ctx.db.session() as session:
            await record_void(session, return_id, voided)


@job("render_slip")
async def render_slip(ctx: Any, *, message_id: int, return_id: int) -> None:
    """Render the packing slip once per distinct content and keep it in storage."""
    from portal.documents.slip import render_packing_slip
    from portal.returns.shipping import load_shipment, record_slip, slip_data, slip_fingerprint

    async with ctx.db.session() as session:
        shipment = await load_shipment(session, return_id)
        if shipment is None:
            return
        order_id, rma = shipment.order.id, shipment.ret.rma
        status_url = ctx.settings.base_url + _signer(ctx).path(order_id, rma)
        logo = await _logo_data_uri(ctx, session)
        data = slip_data(shipment, await _branding(ctx, session), status_url, logo)
    path, stored = _document_path(ctx, "slips", f"{rma}-{slip_fingerprint(data)}.pdf")
    if not path.exists():
        pdf = await asyncio.to_thread(render_packing_slip, data)
        tmp = path.with_suffix(".tmp")
        await asyncio.to_thread(tmp.write_bytes, pdf)
        tmp.replace(path)
    async with ctx.db.session() as session:
        await record_slip(session, return_id, stored)


@job("void_label")
async def void_label(ctx: Any, *, message_id: int, return_id: int, **_: Any) -> None:
    """Refund an unused label (the return was cancelled or expired before shipping)."""
    from portal.models.returns import Return

    async with ctx.db.session() as session:
        ret = await session.get(Return, return_id)
        if ret is None or not ret.shipment_id or ret.label_state != "ready":
            return
        shipment_id = ret.shipment_id
    from portal.returns.shipping import record_void

    voided = await asyncio.to_thread(ctx.carrier.void_label, shipment_id)
    async with ctx.db.session() as session:
        await record_void(session, return_id, voided)


@job("refresh_tracking")
async def refresh_tracking(ctx: Any, *, message_id: int, return_id: int, **_: Any) -> None:
    """Ask the carrier where the parcel is (covers webhooks that never came)."""
    from portal.models.returns import Return
    from portal.returns.shipping import apply_tracking

    async with ctx.db.session() as session:
        ret = await session.get(Return, return_id)
        if ret is None or not ret.tracking_code or ret.status not in ("label_issued", "in_transit"):
            return
        code, tracker_id = ret.tracking_code, ret.tracker_id
    update = await asyncio.to_thread(ctx.carrier.track, code, tracker_id)
    async with ctx.db.session() as session:
        await apply_tracking(session, update, _signer(ctx), source="refresh")


@job("apply_tracking_event")
async def apply_tracking_event(ctx: Any, *, message_id: int, webhook_id: int) -> None:
    """Apply one verified carrier webhook, stored when it arrived."""
    from portal.models.base import utcnow
    from portal.models.outbox import ReceivedWebhook
    from portal.returns.shipping import apply_tracking

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


def tracking_update_to_json(update: Any) -> dict[str, Any]:
    return {
        "tracking_code": update.tracking_code,
        "status": update.status.value,
        "status_detail": update.status_detail,
        "occurred_at": update.occurred_at.isoformat(),
    }


def tracking_update_from_json(data: dict[str, Any]) -> Any:
    from datetime import datetime

    from portal.carriers.base import TrackingStatus, TrackingUpdate

    return TrackingUpdate(
        tracking_code=data["tracking_code"],
        status=TrackingStatus(data["status"]),
        status_detail=data.get("status_detail"),
        occurred_at=datetime.fromisoformat(data["occurred_at"]),
    )
