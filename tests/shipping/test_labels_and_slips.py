"""Labels and slips are made by jobs: the sandbox carrier, EasyPost over the replay server."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlmodel import select

from portal.carriers.easypost_carrier import EasyPostCarrier
from portal.composition import build_context
from portal.jobs.runner import InProcessRunner
from portal.models import AuditEvent, MailMessage, OutboxMessage, Return
from tests.carriers.conftest import require_shared
from tests.support.easypost_replay import ReplayServer


async def load(db, return_id: int) -> Return:
    async with db.session() as session:
        return await session.get(Return, return_id)


def pdf_text(path: str | Path) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(str(path)).pages)


async def test_sandbox_label_and_slip_are_made_and_the_shopper_told(
    db, jobs, approved_return, settings
) -> None:
    ret = await approved_return()
    await jobs.drain()
    done = await load(db, ret.id)
    assert done.status == "label_issued" and done.label_state == "ready"
    assert done.tracking_code.startswith("SBX") and done.carrier == "SANDBOX"
    label = pdf_text(settings.data_dir / done.label_path)
    assert "SANDBOX" in label and done.tracking_code in label and done.rma in label
    slip = pdf_text(settings.data_dir / done.slip_path)
    assert done.rma in slip and "Classic" in slip  # the tee the shopper sends back
    async with db.session() as session:
        subjects = [m.template for m in (await session.exec(select(MailMessage))).all()]
        events = [
            (e.action, e.to_state)
            for e in (
                await session.exec(
                    select(AuditEvent).where(
                        AuditEvent.entity_id == ret.id, AuditEvent.entity_type == "return"
                    )
                )
            ).all()
        ]
    assert "return_label_ready" in subjects
    assert ("status_changed", "label_issued") in events and ("slip_rendered", None) in events


async def test_label_job_twice_buys_one_label(db, jobs, approved_return) -> None:
    from portal.jobs.outbox import run_message

    ret = await approved_return()
    async with db.session() as session:
        label_row = (
            await session.exec(
                select(OutboxMessage).where(OutboxMessage.dedupe_key == f"label:{ret.rma}")
            )
        ).one()
    await run_message(jobs.ctx, label_row.id)
    first = await load(db, ret.id)
    async with db.session() as session:
        row = await session.get(OutboxMessage, label_row.id)
        row.status = "pending"  # as if the worker died before marking it done
        session.add(row)
        await session.commit()
    await run_message(jobs.ctx, label_row.id)
    again = await load(db, ret.id)
    assert again.tracking_code == first.tracking_code and again.version == first.version


async def test_bad_address_ends_in_a_clear_failed_label(db, jobs, approved_return) -> None:
    from portal.models import Order

    ret = await approved_return()
    async with db.session() as session:
        order = await session.get(Order, ret.order_id)
        order.shipping_address = {**order.shipping_address, "street1": ""}
        session.add(order)
        await session.commit()
    await jobs.drain()
    failed = await load(db, ret.id)
    assert failed.status == "approved" and failed.label_state == "failed"
    assert "missing street1" in failed.label_error


async def test_slip_is_rendered_once_per_content(db, jobs, approved_return, settings) -> None:
    from portal.jobs.outbox import enqueue

    ret = await approved_return()
    await jobs.drain()
    first = await load(db, ret.id)
    mtime = (settings.data_dir / first.slip_path).stat().st_mtime_ns
    async with db.session() as session:
        await enqueue(session, "render_slip", {"return_id": ret.id}, key="slip:again")
        await session.commit()
    await jobs.drain()
    again = await load(db, ret.id)
    assert again.slip_path == first.slip_path
    assert (settings.data_dir / again.slip_path).stat().st_mtime_ns == mtime


@pytest.fixture
def easypost_runner(settings, db):
    require_shared()
    import io

    import segno

    png = io.BytesIO()
    segno.make("9400100208303109505657").save(png, kind="png", scale=8)
    with ReplayServer(cassettes=["test_shipment_buy"]) as server:
        carrier = EasyPostCarrier(
            "EZTK_test_key",
            "secret",
            api_base=server.api_base,
            label_fetcher=lambda url: png.getvalue(),
        )
        yield InProcessRunner(build_context(settings, db, carrier=carrier)), server


async def test_easypost_label_through_the_real_sdk(
    db, approved_return, easypost_runner, settings
) -> None:
    runner, server = easypost_runner
    ret = await approved_return()
    await runner.drain()
    await runner.stop()
    done = await load(db, ret.id)
    assert done.status == "label_issued", done.label_error
    assert done.shipment_id.startswith("shp_") and done.tracking_code
    assert done.label_cost and done.label_cost > 0
    assert (settings.data_dir / done.label_path).read_bytes().startswith(b"%PDF-")
    paths = [r.path for r in server.requests]
    assert "/v2/shipments" in paths and any(p.endswith("/buy") for p in paths)
    assert not server.unmatched


def test_pdftotext_reads_the_sandbox_label(tmp_path) -> None:
    """The label is a real PDF for real tools too (what warehouse printers get)."""
    from datetime import timedelta

    from portal.carriers.base import Address, LabelRequest, Parcel
    from portal.carriers.sandbox import SandboxCarrier

    carrier = SandboxCarrier(pace=timedelta(minutes=5))
    shopper = Address("Sam", "1 Oak St", None, "Portland", "OR", "97205", "US")
    warehouse = Address("Main", "400 Meadowlands Pkwy", None, "Secaucus", "NJ", "07094", "US")
    label = carrier.buy_label(
        LabelRequest("R-1", shopper, warehouse, Parcel(12, 9, 4, 16), idempotency_key="label:R-1")
    )
    (tmp_path / "l.pdf").write_bytes(label.label_pdf)
    text = subprocess.run(
        ["pdftotext", str(tmp_path / "l.pdf"), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "SANDBOX" in text and label.tracking_code in text


async def test_admin_retries_a_failed_label_after_fixing_the_address(
    db, jobs, approved_return, client
) -> None:
    from portal.models import Order
    from tests.conftest import csrf_token, submit_form
    from tests.factories import PASSWORD, make_user

    ret = await approved_return()
    async with db.session() as session:
        order = await session.get(Order, ret.order_id)
        good_street = order.shipping_address["street1"]
        order.shipping_address = {**order.shipping_address, "street1": ""}
        session.add(order)
        await session.commit()
    await jobs.drain()
    await make_user(db, "ops@shop.example", "admin")
    await submit_form(
        client, "/login", "/login", {"email": "ops@shop.example", "password": PASSWORD, "next": ""}
    )
    page = await client.get("/admin/jobs")
    assert f'id="label-{ret.id}"' in page.text and "missing street1" in page.text
    async with db.session() as session:
        order = await session.get(Order, ret.order_id)
        order.shipping_address = {**order.shipping_address, "street1": good_street}
        session.add(order)
        await session.commit()
    response = await client.post(
        f"/admin/labels/{ret.id}/retry",
        data={"_csrf_token": csrf_token(client)},
        follow_redirects=False,
    )
    assert response.status_code == 303
    await jobs.drain()
    fixed = await load(db, ret.id)
    assert fixed.status == "label_issued" and fixed.label_state == "ready"
    again = await client.post(
        f"/admin/labels/{ret.id}/retry", data={"_csrf_token": csrf_token(client)}
    )
    assert again.status_code == 404  # nothing failed any more
