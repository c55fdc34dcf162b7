"""The sandbox carrier: real 4x6 PDF labels and simulated tracking, no network."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta

import pytest

from portal.carriers import Carrier
from portal.carriers.base import (
    AddressInvalid,
    CarrierError,
    TrackingStatus,
    WebhookSignatureInvalid,
)
from portal.carriers.sandbox import SandboxCarrier

T0 = datetime(2025, 3, 7, 9, 0, tzinfo=UTC)
PACE = timedelta(hours=6)


class Clock:
    """A settable clock for `now=`."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def sandbox(clock: Clock) -> SandboxCarrier:
    return SandboxCarrier(pace=PACE, now=clock, webhook_secret="sandbox-secret")


def test_is_a_carrier(sandbox):
    assert isinstance(sandbox, Carrier)


def test_label_is_a_real_one_page_4x6_pdf(sandbox, label_request, pdf_reader, pdf_text):
    label = sandbox.buy_label(label_request)

    reader = pdf_reader(label.label_pdf)
    assert len(reader.pages) == 1
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (288, 432)  # 4x6 in, in pt
    text = pdf_text(label.label_pdf)
    assert "SANDBOX" in text
    assert "NOT A REAL LABEL" in text
    assert label.tracking_code in text
    assert "RMA-1001-ABCD" in text
    assert "Jane Shopper" in text and "Acme Returns Warehouse" in text
    assert "Reno, NV 89502" in text
    assert label.label_format == "PDF"
    assert (label.carrier, label.rate_amount, label.currency) == ("SANDBOX", 0, "USD")


def test_tracking_number_is_deterministic_per_idempotency_key(clock, label_request):
    first = SandboxCarrier(now=clock).buy_label(label_request)
    clock.at = T0 + timedelta(hours=3)  # a retried job, later, maybe on another replica
    retried = SandboxCarrier(now=clock).buy_label(label_request)
    other = SandboxCarrier(now=clock).buy_label(
        dataclasses.replace(label_request, idempotency_key="return:43:label")
    )

    assert re.fullmatch(r"SBX\d{16}", first.tracking_code)
    assert retried.tracking_code == first.tracking_code
    assert retried.shipment_id == first.shipment_id
    assert other.tracking_code != first.tracking_code


@pytest.mark.skipif(
    shutil.which("zbarimg") is None or shutil.which("pdftoppm") is None,
    reason="zbarimg (zbar-tools) and pdftoppm are needed to scan the barcodes",
)
def test_label_barcodes_scan(sandbox, label_request, tmp_path):
    label = sandbox.buy_label(label_request)
    (tmp_path / "label.pdf").write_bytes(label.label_pdf)
    subprocess.run(
        ["pdftoppm", "-png", "-r", "203", tmp_path / "label.pdf", tmp_path / "label"], check=True
    )
    scanned = subprocess.run(
        ["zbarimg", "-q", "--raw", tmp_path / "label-1.png"], capture_output=True, text=True
    ).stdout.split()
    assert sorted(scanned) == sorted([label.tracking_code, "RMA-1001-ABCD"])


def test_tracking_moves_through_the_states(sandbox, clock, label_request):
    label = sandbox.buy_label(label_request)

    seen = []
    for offset, expected in [
        (timedelta(0), TrackingStatus.PRE_TRANSIT),
        (PACE - timedelta(seconds=1), TrackingStatus.PRE_TRANSIT),
        (PACE, TrackingStatus.IN_TRANSIT),
        (2 * PACE + timedelta(minutes=5), TrackingStatus.OUT_FOR_DELIVERY),
        (3 * PACE, TrackingStatus.DELIVERED),
        (30 * PACE, TrackingStatus.DELIVERED),
    ]:
        clock.at = T0 + offset
        update = sandbox.track(label.tracking_code, label.tracker_id)
        assert update.status is expected, offset
        seen.append(update)

    final = seen[-1]
    assert [e.status for e in final.events] == [
        TrackingStatus.PRE_TRANSIT,
        TrackingStatus.IN_TRANSIT,
        TrackingStatus.OUT_FOR_DELIVERY,
        TrackingStatus.DELIVERED,
    ]
    assert [e.occurred_at for e in final.events] == [T0 + i * PACE for i in range(4)]
    assert final.occurred_at == T0 + 3 * PACE
    assert final.est_delivery == T0 + 3 * PACE
    assert seen[2].occurred_at == T0 + PACE and len(seen[2].events) == 2
    assert all(u.occurred_at.tzinfo is not None for u in seen)


def test_pace_is_configurable(clock, label_request):
    fast = SandboxCarrier(pace=timedelta(minutes=1), now=clock)
    label = fast.buy_label(label_request)
    clock.at = T0 + timedelta(minutes=2)
    assert (
        fast.track(label.tracking_code, label.tracker_id).status is TrackingStatus.OUT_FOR_DELIVERY
    )


def test_clock_before_creation_stays_pre_transit(sandbox, clock, label_request):
    label = sandbox.buy_label(label_request)
    clock.at = T0 - timedelta(days=1)
    assert sandbox.track(label.tracking_code, label.tracker_id).status is TrackingStatus.PRE_TRANSIT


def test_tracking_without_tracker_id_is_unknown(sandbox, label_request):
    label = sandbox.buy_label(label_request)
    update = sandbox.track(label.tracking_code, None)
    assert update.status is TrackingStatus.UNKNOWN
    assert update.events == ()


def test_tracker_of_another_parcel_is_refused(sandbox, label_request):
    label = sandbox.buy_label(label_request)
    with pytest.raises(CarrierError):
        sandbox.track("SBX0000000000000000", label.tracker_id)


def test_void_label(sandbox, label_request):
    label = sandbox.buy_label(label_request)
    assert sandbox.void_label(label.shipment_id) is True
    assert sandbox.void_label("shp_16578f588f9546ec914afd2474e24ff5") is False


@pytest.mark.parametrize("zip_code", ["00000", ""])
def test_invalid_address(sandbox, label_request, zip_code):
    bad = dataclasses.replace(label_request.from_address, zip=zip_code)
    with pytest.raises(AddressInvalid) as caught:
        sandbox.buy_label(dataclasses.replace(label_request, from_address=bad))
    assert caught.value.retryable is False


def test_own_signed_webhook_is_verified_and_tracked(sandbox, clock, label_request):
    label = sandbox.buy_label(label_request)
    clock.at = T0 + PACE
    body = sandbox.webhook_body(label.tracking_code, label.tracker_id)
    headers = {k.lower(): v for k, v in sandbox.sign_webhook(body).items()}

    update = sandbox.parse_webhook(body, headers)

    assert update is not None
    assert update.tracking_code == label.tracking_code
    assert update.status is TrackingStatus.IN_TRANSIT


def test_tampered_or_unsigned_sandbox_webhooks_are_rejected(sandbox, label_request):
    label = sandbox.buy_label(label_request)
    body = sandbox.webhook_body(label.tracking_code, label.tracker_id)
    headers = sandbox.sign_webhook(body)
    with pytest.raises(WebhookSignatureInvalid):
        sandbox.parse_webhook(body.replace(b"tracker.updated", b"tracker.updatee"), headers)
    with pytest.raises(WebhookSignatureInvalid):
        sandbox.parse_webhook(body, {})
    with pytest.raises(WebhookSignatureInvalid):
        SandboxCarrier().parse_webhook(body, headers)  # no secret configured: webhooks off


def test_other_sandbox_events_are_ignored(sandbox):
    body = b'{"description":"batch.created","result":{}}'
    assert sandbox.parse_webhook(body, sandbox.sign_webhook(body)) is None
