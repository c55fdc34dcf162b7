"""EasyPostCarrier through the real `easypost` SDK against EasyPost's recorded responses."""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest

from portal.carriers import Carrier
from portal.carriers.base import (
    AddressInvalid,
    CarrierError,
    CarrierUnavailable,
    LabelRequest,
    NoRates,
    TrackingStatus,
)
from portal.carriers.easypost_carrier import (
    EasyPostCarrier,
    httpx_label_fetcher,
    map_status,
    to_minor_units,
)

SHIPMENT_ID = "shp_16578f588f9546ec914afd2474e24ff5"
REFUND_SHIPMENT_ID = "shp_700d2963c43b4847883c955eeb846b13"


def make_carrier(replay, fetcher, **kwargs) -> EasyPostCarrier:
    return EasyPostCarrier(
        "EZTK_test_key",
        "webhook-secret",
        api_base=replay.api_base,
        timeout=kwargs.pop("timeout", 5),
        label_fetcher=fetcher,
        **kwargs,
    )


def recorded_rates(recorded) -> dict[str, dict]:
    """Rates of the recorded `POST /shipments` answer, by service."""
    return {r["service"]: r for r in recorded("test_shipment_buy", 0)["rates"]}


def test_is_a_carrier(replay, fetcher):
    assert isinstance(make_carrier(replay, fetcher), Carrier)


def test_buy_return_label(replay, fetcher, label_request, recorded, pdf_reader):
    replay.load("test_shipment_buy")
    carrier = make_carrier(replay, fetcher)

    label = carrier.buy_label(label_request)

    recorded_buy = recorded("test_shipment_buy", 1)
    assert label.shipment_id == SHIPMENT_ID
    assert label.tracking_code == recorded_buy["tracking_code"] == "9400100208303109505657"
    assert label.tracker_id == recorded_buy["tracker"]["id"]
    assert (label.carrier, label.service) == ("USPS", "GroundAdvantage")
    assert (label.rate_amount, label.currency) == (607, "USD")
    # The recorded label is a PNG on EasyPost's storage: it went to our fetcher, not the net.
    assert fetcher.urls == [recorded_buy["postage_label"]["label_url"]]
    assert label.label_format == "PNG"
    reader = pdf_reader(label.label_pdf)
    assert len(reader.pages) == 1
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (288, 432)  # 4x6 in

    create, buy = replay.requests
    assert (create.method, create.path) == ("POST", "/v2/shipments")
    sent = create.json["shipment"]
    assert sent["is_return"] is True
    assert sent["reference"] == "RMA-1001-ABCD"
    # EasyPost swaps the addresses of a return: it wants them as the outbound parcel had them.
    assert sent["to_address"]["name"] == "Jane Shopper"
    assert sent["from_address"]["name"] == "Acme Returns Warehouse"
    assert sent["from_address"]["company"] == "Acme Outdoor Co."
    assert sent["parcel"] == {"length": 10, "width": 8, "height": 4, "weight": 15.4}
    assert buy.path == f"/v2/shipments/{SHIPMENT_ID}/buy"
    assert buy.json == {"rate": {"id": recorded_rates(recorded)["GroundAdvantage"]["id"]}}
    assert replay.unmatched == []


def test_non_return_shipment_keeps_address_direction(replay, fetcher, label_request):
    replay.load("test_shipment_buy")
    make_carrier(replay, fetcher).buy_label(dataclasses.replace(label_request, is_return=False))
    sent = replay.requests[0].json["shipment"]
    assert sent["is_return"] is False
    assert sent["from_address"]["name"] == "Jane Shopper"
    assert sent["to_address"]["name"] == "Acme Returns Warehouse"


def test_lowest_rate_is_bought_without_preferences(replay, fetcher, label_request, recorded):
    replay.load("test_shipment_lowest_rate")
    created = recorded("test_shipment_lowest_rate", 0)
    # That cassette records only the creation; answer the purchase with a recorded purchase.
    replay.inject(
        "POST", f"/v2/shipments/{created['id']}/buy", body=recorded("test_shipment_buy", 1)
    )

    make_carrier(replay, fetcher).buy_label(label_request)

    cheapest = min(created["rates"], key=lambda r: Decimal(r["rate"]))
    assert cheapest["service"] == "GroundAdvantage"
    assert replay.received("POST", f"/v2/shipments/{created['id']}/buy")[0].json == {
        "rate": {"id": cheapest["id"]}
    }


@pytest.mark.parametrize(
    ("carriers", "services", "expected_service"),
    [
        ((), ("Priority",), "Priority"),
        (("usps",), ("express", "priority"), "Express"),  # list order wins over price
        (("USPS",), (), "GroundAdvantage"),  # cheapest of the preferred carrier
        (("FedEx",), ("Priority",), "GroundAdvantage"),  # no match: cheapest overall
        ((), ("NextDayAir", "Priority"), "Priority"),  # first *available* service
    ],
)
def test_preferences_choose_the_rate(
    replay, fetcher, label_request, recorded, carriers, services, expected_service
):
    replay.load("test_shipment_buy")
    request = dataclasses.replace(
        label_request, preferred_carriers=carriers, preferred_services=services
    )

    make_carrier(replay, fetcher).buy_label(request)

    buy = replay.received("POST", f"/v2/shipments/{SHIPMENT_ID}/buy")[0]
    assert buy.json == {"rate": {"id": recorded_rates(recorded)[expected_service]["id"]}}


def test_carrier_preference_order_among_available_carriers(
    replay, fetcher, label_request, recorded
):
    created = recorded("test_shipment_create", 0)
    fedex = dict(
        created["rates"][0], id="rate_fedex_ground", carrier="FedEx", service="FEDEX_GROUND"
    )
    fedex["rate"] = "9.00"
    created["rates"].append(fedex)
    replay.inject("POST", "/v2/shipments", status=201, body=created)
    replay.inject(
        "POST", f"/v2/shipments/{created['id']}/buy", body=recorded("test_shipment_buy", 1)
    )
    request = dataclasses.replace(label_request, preferred_carriers=("FedEx", "USPS"))

    make_carrier(replay, fetcher).buy_label(request)

    buy = replay.received("POST", f"/v2/shipments/{created['id']}/buy")[0]
    assert buy.json == {"rate": {"id": "rate_fedex_ground"}}  # preferred, though dearer


def test_pdf_label_is_kept_as_is(replay, make_fetcher, label_request):
    replay.load("test_shipment_buy")
    pdf = b"%PDF-1.7\n% a carrier's own PDF label\n"
    label = make_carrier(replay, make_fetcher(pdf)).buy_label(label_request)
    assert label.label_pdf == pdf
    assert label.label_format == "PDF"


def test_label_fetch_failure_voids_the_bought_shipment(
    replay, make_fetcher, label_request, recorded
):
    replay.load("test_shipment_buy")
    replay.inject(
        "POST", f"/v2/shipments/{SHIPMENT_ID}/refund", body=recorded("test_shipment_refund", 1)
    )
    failing = make_fetcher(CarrierUnavailable("storage timed out"))
    carrier = make_carrier(replay, failing, fetch_attempts=2)

    with pytest.raises(CarrierUnavailable) as caught:
        carrier.buy_label(label_request)

    assert caught.value.retryable is True
    assert "shipment voided" in caught.value.message
    assert len(failing.urls) == 2  # retried the download before giving up
    assert len(replay.received("POST", f"/v2/shipments/{SHIPMENT_ID}/refund")) == 1


def test_unknown_label_format_is_not_retryable(replay, make_fetcher, label_request, recorded):
    replay.load("test_shipment_buy")
    replay.inject(
        "POST", f"/v2/shipments/{SHIPMENT_ID}/refund", body=recorded("test_shipment_refund", 1)
    )
    zpl = make_fetcher(b"^XA^FO50,50^ADN,36,20^FDZPL label^FS^XZ")
    with pytest.raises(CarrierError) as caught:
        make_carrier(replay, zpl).buy_label(label_request)
    assert caught.value.retryable is False
    assert len(zpl.urls) == 1


def test_no_rates(replay, fetcher, label_request, recorded):
    created = recorded("test_shipment_create", 0)
    created.update(
        rates=[], messages=[{"carrier": "USPS", "type": "rate_error", "message": "Bad ZIP"}]
    )
    replay.inject("POST", "/v2/shipments", status=201, body=created)
    with pytest.raises(NoRates, match="Bad ZIP") as caught:
        make_carrier(replay, fetcher).buy_label(label_request)
    assert caught.value.retryable is False
    assert replay.received("POST", f"/v2/shipments/{created['id']}/buy") == []


@pytest.mark.parametrize(
    ("status", "error", "expected", "retryable"),
    [
        (
            422,
            {
                "code": "ADDRESS.VERIFY.FAILURE",
                "message": "Unable to verify address.",
                "errors": [],
            },
            AddressInvalid,
            False,
        ),
        (
            422,
            {
                "code": "SHIPMENT.INVALID_PARAMS",
                "message": "Invalid parameters",
                "errors": [{"field": "to_address.zip", "message": "must be 5 digits"}],
            },
            AddressInvalid,
            False,
        ),
        (
            422,
            {"code": "PARCEL.INVALID", "message": "Weight is too large.", "errors": []},
            CarrierError,
            False,
        ),
        (401, {"code": "APIKEY.INVALID", "message": "Invalid API key"}, CarrierError, False),
        (429, {"code": "RATE_LIMITED", "message": "Slow down"}, CarrierUnavailable, True),
        (500, {"code": "INTERNAL_SERVER_ERROR", "message": "Oops"}, CarrierUnavailable, True),
        (503, {"code": "SERVICE.UNAVAILABLE", "message": "Down"}, CarrierUnavailable, True),
    ],
)
def test_api_errors_are_mapped(replay, fetcher, label_request, status, error, expected, retryable):
    replay.inject("POST", "/v2/shipments", status=status, body={"error": error})
    with pytest.raises(CarrierError) as caught:
        make_carrier(replay, fetcher).buy_label(label_request)
    assert type(caught.value) is expected
    assert caught.value.retryable is retryable
    assert caught.value.code == error["code"]
    assert fetcher.urls == []


def test_non_json_gateway_page_is_retryable(replay, fetcher, label_request):
    replay.inject("POST", "/v2/shipments", status=502, body="<html>Bad gateway</html>")
    with pytest.raises(CarrierUnavailable):
        make_carrier(replay, fetcher).buy_label(label_request)


def test_timeout_is_retryable(replay, fetcher, label_request):
    replay.inject("POST", "/v2/shipments", delay=10, body={})
    carrier = make_carrier(replay, fetcher, timeout=0.5)
    started = time.monotonic()
    with pytest.raises(CarrierUnavailable) as caught:
        carrier.buy_label(label_request)
    assert time.monotonic() - started < 5
    assert caught.value.retryable is True


def test_connection_refused_is_retryable(fetcher, label_request):
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    carrier = EasyPostCarrier(
        "k", "s", api_base=f"http://127.0.0.1:{port}/v2", timeout=2, label_fetcher=fetcher
    )
    with pytest.raises(CarrierUnavailable):
        carrier.buy_label(label_request)


def test_void_label_refunds_the_shipment(replay, fetcher):
    replay.load("test_shipment_refund")
    assert make_carrier(replay, fetcher).void_label(REFUND_SHIPMENT_ID) is True
    (request,) = replay.requests
    assert (request.method, request.path) == ("POST", f"/v2/shipments/{REFUND_SHIPMENT_ID}/refund")


def test_void_label_rejected_refund_is_false(replay, fetcher, recorded):
    refunded = recorded("test_shipment_refund", 1) | {"refund_status": "rejected"}
    replay.inject("POST", f"/v2/shipments/{REFUND_SHIPMENT_ID}/refund", body=refunded)
    assert make_carrier(replay, fetcher).void_label(REFUND_SHIPMENT_ID) is False


def test_void_label_twice_counts_as_success(replay, fetcher, recorded):
    path = f"/v2/shipments/{REFUND_SHIPMENT_ID}"
    replay.inject(
        "POST",
        f"{path}/refund",
        status=422,
        body={"error": {"code": "SHIPMENT.REFUND.UNAVAILABLE", "message": "Already refunded"}},
    )
    replay.inject("GET", path, body=recorded("test_shipment_refund", 1))  # refund submitted
    assert make_carrier(replay, fetcher).void_label(REFUND_SHIPMENT_ID) is True


def test_void_label_refused_and_not_refunded_raises(replay, fetcher, recorded):
    path = f"/v2/shipments/{REFUND_SHIPMENT_ID}"
    replay.inject(
        "POST",
        f"{path}/refund",
        status=422,
        body={"error": {"code": "SHIPMENT.REFUND.UNAVAILABLE", "message": "Label was used"}},
    )
    replay.inject("GET", path, body=recorded("test_shipment_refund", 0))  # refund_status null
    with pytest.raises(CarrierError, match="Label was used") as caught:
        make_carrier(replay, fetcher).void_label(REFUND_SHIPMENT_ID)
    assert caught.value.retryable is False


def test_track_creates_a_tracker_and_maps_it(replay, fetcher):
    replay.load("test_tracker_create")

    update = make_carrier(replay, fetcher).track("EZ1000000001")

    (request,) = replay.requests
    assert (request.method, request.path) == ("POST", "/v2/trackers")
    assert request.json == {"tracker": {"tracking_code": "EZ1000000001"}}
    assert update.tracking_code == "EZ1000000001"
    assert update.status is TrackingStatus.PRE_TRANSIT
    assert update.status_detail == "status_update"
    assert [e.message for e in update.events] == [
        "Pre-Shipment Info Sent to USPS",
        "Shipping Label Created",
    ]
    assert update.events[1].location == "HOUSTON, TX 77063"
    assert update.events[0].location is None
    assert update.occurred_at == datetime(2025, 2, 7, 8, 25, 26, tzinfo=UTC)
    assert update.est_delivery == datetime(2025, 3, 6, 19, 48, 26, tzinfo=UTC)
    assert all(e.occurred_at.tzinfo is UTC for e in update.events)


def test_track_retrieves_a_known_tracker(replay, fetcher):
    replay.load("test_tracker_retrieve")
    tracker_id = "trk_e7e8f143f3eb40d38be9562e3767c36a"

    update = make_carrier(replay, fetcher).track("EZ1000000001", tracker_id)

    assert [(r.method, r.path) for r in replay.requests] == [("GET", f"/v2/trackers/{tracker_id}")]
    assert update.status is TrackingStatus.PRE_TRANSIT
    assert len(update.events) == 2


def test_track_unknown_tracker_is_not_retryable(replay, fetcher):
    with pytest.raises(CarrierError) as caught:
        make_carrier(replay, fetcher).track("EZ1", "trk_missing")
    assert caught.value.retryable is False  # the replay answers 404 for unknown paths


@pytest.mark.parametrize(
    ("easypost", "ours"),
    [
        ("pre_transit", TrackingStatus.PRE_TRANSIT),
        ("in_transit", TrackingStatus.IN_TRANSIT),
        ("out_for_delivery", TrackingStatus.OUT_FOR_DELIVERY),
        ("available_for_pickup", TrackingStatus.OUT_FOR_DELIVERY),
        ("delivered", TrackingStatus.DELIVERED),
        ("return_to_sender", TrackingStatus.RETURNED_TO_SENDER),
        ("failure", TrackingStatus.FAILURE),
        ("error", TrackingStatus.FAILURE),
        ("cancelled", TrackingStatus.FAILURE),
        ("unknown", TrackingStatus.UNKNOWN),
        ("something_new", TrackingStatus.UNKNOWN),
        (None, TrackingStatus.UNKNOWN),
    ],
)
def test_status_mapping(easypost, ours):
    assert map_status(easypost) is ours


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [("6.07", "USD", 607), ("34.15", "usd", 3415), ("6.07000", "USD", 607), ("1200", "JPY", 1200)],
)
def test_amounts_become_minor_units(amount, currency, minor):
    assert to_minor_units(amount, currency) == minor


def test_request_defaults_idempotency_key_from_reference(label_request):
    bare = LabelRequest(
        reference="RMA-9",
        from_address=label_request.from_address,
        to_address=label_request.to_address,
        parcel=label_request.parcel,
    )
    assert bare.idempotency_key == "label:RMA-9"
    assert bare.from_address.country == "US"


def test_production_fetcher_follows_redirects_without_network(png_label):
    seen = []

    def storage(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        if request.url.path == "/label.png":
            return httpx.Response(302, headers={"Location": "https://files.example/signed.png"})
        return httpx.Response(200, content=png_label)

    client = httpx.Client(transport=httpx.MockTransport(storage))
    fetch = httpx_label_fetcher(client=client)
    assert fetch("https://files.example/label.png") == png_label
    assert seen == ["https://files.example/label.png", "https://files.example/signed.png"]


@pytest.mark.parametrize(("status", "retryable"), [(403, False), (404, True), (503, True)])
def test_production_fetcher_errors(status, retryable):
    client = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(status)))
    with pytest.raises(CarrierError) as caught:
        httpx_label_fetcher(client=client)("https://files.example/label.png")
    assert caught.value.retryable is retryable


def test_production_fetcher_refuses_plain_http():
    with pytest.raises(CarrierError):
        httpx_label_fetcher()("http://files.example/label.png")
