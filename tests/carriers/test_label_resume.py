"""A label purchase is resumable: create the shipment, record its id, buy; a retry that hands
the id back reuses a bought shipment instead of buying a second label."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import easypost
import pytest

from portal.carriers.base import CarrierError, CarrierUnavailable
from portal.carriers.easypost_carrier import EasyPostCarrier
from portal.carriers.sandbox import SandboxCarrier, sandbox_shipment_id

SHIPMENT_ID = "shp_16578f588f9546ec914afd2474e24ff5"
BUY = f"/v2/shipments/{SHIPMENT_ID}/buy"


def make_carrier(replay, fetcher, **kwargs) -> EasyPostCarrier:
    return EasyPostCarrier(
        "EZTK_test_key", "secret", api_base=replay.api_base, label_fetcher=fetcher, **kwargs
    )


def test_create_then_buy_the_recorded_shipment(replay, fetcher, label_request):
    replay.load("test_shipment_buy")
    carrier = make_carrier(replay, fetcher)

    shipment_id = carrier.create_shipment(label_request)
    label = carrier.buy_label(label_request, shipment_id)

    assert shipment_id == label.shipment_id == SHIPMENT_ID
    assert label.tracking_code == "9400100208303109505657"
    assert [(r.method, r.path) for r in replay.requests] == [
        ("POST", "/v2/shipments"),
        ("GET", f"/v2/shipments/{SHIPMENT_ID}"),  # not bought yet: as created
        ("POST", BUY),
    ]
    assert replay.unmatched == []


def test_retry_after_a_lost_purchase_reuses_the_bought_shipment(replay, fetcher, label_request):
    replay.load("test_shipment_buy")
    carrier = make_carrier(replay, fetcher)
    shipment_id = carrier.create_shipment(label_request)
    first = carrier.buy_label(label_request, shipment_id)  # ...then the worker died

    again = carrier.buy_label(label_request, shipment_id)

    assert len(replay.received("POST", BUY)) == 1
    assert len(replay.received("POST", "/v2/shipments")) == 1
    assert (again.shipment_id, again.tracking_code) == (first.shipment_id, first.tracking_code)
    assert (again.carrier, again.service, again.rate_amount) == ("USPS", "GroundAdvantage", 607)
    assert again.tracker_id == first.tracker_id
    assert again.label_pdf.startswith(b"%PDF-")
    assert len(fetcher.urls) == 2  # the label was fetched again, not bought again
    assert replay.unmatched == []


def test_retryable_fetch_failure_of_a_recorded_shipment_keeps_the_postage(
    replay, make_fetcher, png_label, label_request
):
    replay.load("test_shipment_buy")
    failing = make_fetcher(CarrierUnavailable("storage timed out"))
    carrier = make_carrier(replay, failing, fetch_attempts=1)
    shipment_id = carrier.create_shipment(label_request)

    with pytest.raises(CarrierUnavailable):
        carrier.buy_label(label_request, shipment_id)
    assert replay.received("POST", f"/v2/shipments/{SHIPMENT_ID}/refund") == []

    label = make_carrier(replay, make_fetcher(png_label)).buy_label(label_request, shipment_id)
    assert label.shipment_id == SHIPMENT_ID
    assert len(replay.received("POST", BUY)) == 1


def test_replay_server_retrieves_only_shipments_it_served(replay):
    replay.load("test_shipment_buy")
    client = easypost.EasyPostClient("EZTK_test_key", api_base=replay.api_base)
    with pytest.raises(easypost.errors.ApiError):
        client.shipment.retrieve(SHIPMENT_ID)  # never created here: no state to show


def test_sandbox_shipment_ids_are_stable_and_checked(label_request):
    at = datetime(2026, 1, 5, 9, tzinfo=UTC)
    carrier = SandboxCarrier(pace=timedelta(hours=1), now=lambda: at)

    shipment_id = carrier.create_shipment(label_request)
    first = carrier.buy_label(label_request, shipment_id)
    again = carrier.buy_label(label_request, shipment_id)

    assert shipment_id == sandbox_shipment_id(label_request.idempotency_key)
    assert first.shipment_id == again.shipment_id == shipment_id
    assert first.tracking_code == again.tracking_code
    assert carrier.buy_label(label_request).shipment_id == shipment_id
    with pytest.raises(CarrierError):
        carrier.buy_label(label_request, "sbxshp_" + "0" * 24)
