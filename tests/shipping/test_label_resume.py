"""A crash between the carrier selling a label and the return recording it must not buy a
second label: the retried job resumes the recorded shipment."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from sqlmodel import select

from portal.carriers.easypost_carrier import EasyPostCarrier
from portal.carriers.sandbox import SandboxCarrier
from portal.composition import build_context
from portal.jobs.runner import InProcessRunner
from portal.models import OutboxMessage, Return
from tests.carriers.conftest import require_shared
from tests.support.easypost_replay import ReplayServer

SHIPMENT_ID = "shp_16578f588f9546ec914afd2474e24ff5"
BUY = f"/v2/shipments/{SHIPMENT_ID}/buy"


async def load(db, return_id: int) -> Return:
    async with db.session() as session:
        return await session.get(Return, return_id)


def crash_once_when_recording(monkeypatch) -> list[str]:
    """`record_label` dies (as the worker or the database would) the first time, after the
    carrier has sold the label; the outbox then retries the job."""
    import portal.returns.jobs as returns_jobs

    real = returns_jobs.record_label
    calls: list[str] = []

    async def flaky(session, return_id, label, label_path, signer):  # type: ignore[no-untyped-def]
        calls.append(label.shipment_id)
        if len(calls) == 1:
            raise RuntimeError("worker died before the label was recorded")
        return await real(session, return_id, label, label_path, signer)

    monkeypatch.setattr(returns_jobs, "record_label", flaky)
    return calls


async def make_label_job_due(db, rma: str) -> None:
    """Skip the outbox's back-off so the retry runs now."""
    async with db.session() as session:
        row = (
            await session.exec(
                select(OutboxMessage).where(OutboxMessage.dedupe_key == f"label:{rma}")
            )
        ).one()
        assert row.status == "pending" and row.attempts == 1  # failed once, will be retried
        row.next_attempt_at = row.created_at - timedelta(seconds=1)
        session.add(row)
        await session.commit()


@pytest.fixture
def easypost_runner(settings, db):
    require_shared()
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


async def test_easypost_normal_purchase_creates_and_buys_once(
    db, approved_return, easypost_runner
) -> None:
    runner, server = easypost_runner
    ret = await approved_return()
    await runner.drain()
    await runner.stop()
    done = await load(db, ret.id)
    assert done.status == "label_issued" and done.shipment_id == SHIPMENT_ID
    assert len(server.received("POST", "/v2/shipments")) == 1
    assert len(server.received("POST", BUY)) == 1
    assert not server.unmatched


async def test_easypost_crash_after_purchase_buys_one_label(
    db, approved_return, easypost_runner, settings, monkeypatch
) -> None:
    runner, server = easypost_runner
    recorded = crash_once_when_recording(monkeypatch)
    ret = await approved_return()

    await runner.drain()
    crashed = await load(db, ret.id)
    # The shipment id was committed before the purchase; the label itself was lost.
    assert crashed.status == "approved" and crashed.label_state == "pending"
    assert crashed.shipment_id == SHIPMENT_ID and crashed.tracking_code is None
    assert len(server.received("POST", BUY)) == 1

    await make_label_job_due(db, ret.rma)
    await runner.drain()
    await runner.stop()

    done = await load(db, ret.id)
    assert done.status == "label_issued" and done.label_state == "ready", done.label_error
    assert done.shipment_id == SHIPMENT_ID and done.tracking_code == "9400100208303109505657"
    assert (settings.data_dir / done.label_path).read_bytes().startswith(b"%PDF-")
    assert recorded == [SHIPMENT_ID, SHIPMENT_ID]
    # One shipment, one purchase: the retry looked the shipment up and reused its label.
    assert len(server.received("POST", "/v2/shipments")) == 1
    assert len(server.received("POST", BUY)) == 1
    assert len(server.received("GET", f"/v2/shipments/{SHIPMENT_ID}")) == 2
    assert not server.unmatched


class CountingSandbox(SandboxCarrier):
    """The sandbox carrier, noting what the job asked of it."""

    def __init__(self) -> None:
        super().__init__(pace=timedelta(minutes=5))
        self.created: list[str] = []
        self.bought_with: list[str | None] = []

    def create_shipment(self, req):  # type: ignore[no-untyped-def]
        shipment_id = super().create_shipment(req)
        self.created.append(shipment_id)
        return shipment_id

    def buy_label(self, req, shipment_id=None):  # type: ignore[no-untyped-def]
        self.bought_with.append(shipment_id)
        return super().buy_label(req, shipment_id)


async def test_sandbox_crash_after_purchase_resumes_the_same_shipment(
    db, approved_return, settings, monkeypatch
) -> None:
    carrier = CountingSandbox()
    runner = InProcessRunner(build_context(settings, db, carrier=carrier))
    recorded = crash_once_when_recording(monkeypatch)
    ret = await approved_return()

    await runner.drain()
    crashed = await load(db, ret.id)
    assert crashed.status == "approved" and crashed.shipment_id == carrier.created[0]

    await make_label_job_due(db, ret.rma)
    await runner.drain()
    await runner.stop()

    done = await load(db, ret.id)
    assert done.status == "label_issued" and done.label_state == "ready"
    assert len(carrier.created) == 1  # the retry did not start a new shipment
    assert carrier.bought_with == [carrier.created[0], carrier.created[0]]
    assert done.shipment_id == carrier.created[0] == recorded[0] == recorded[1]
    assert done.tracking_code.startswith("SBX")


async def test_sandbox_normal_purchase_creates_and_buys_once(db, approved_return, settings):
    carrier = CountingSandbox()
    runner = InProcessRunner(build_context(settings, db, carrier=carrier))
    ret = await approved_return()
    await runner.drain()
    await runner.stop()
    done = await load(db, ret.id)
    assert done.status == "label_issued"
    assert carrier.created == [done.shipment_id] and carrier.bought_with == [done.shipment_id]


async def test_refused_purchase_forgets_the_shipment_for_a_fresh_retry(
    db, approved_return, easypost_runner
) -> None:
    runner, server = easypost_runner
    server.inject(
        "POST",
        BUY,
        status=422,
        body={
            "error": {
                "code": "ADDRESS.VERIFY.FAILURE",
                "message": "Unable to verify address.",
                "errors": [],
            }
        },
    )
    ret = await approved_return()
    await runner.drain()
    await runner.stop()
    failed = await load(db, ret.id)
    assert failed.status == "approved" and failed.label_state == "failed"
    # Nothing was bought: a staff retry after fixing the address starts a new shipment.
    assert failed.shipment_id is None
    assert len(server.received("POST", BUY)) == 1
