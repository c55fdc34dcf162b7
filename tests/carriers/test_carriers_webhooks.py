"""EasyPost webhook verification with EasyPost's own signed fixture."""

from __future__ import annotations

import hashlib
import hmac
import json
import unicodedata
from datetime import UTC, datetime

import httpx
import pytest

from portal.carriers.base import CarrierError, TrackingStatus, WebhookSignatureInvalid
from portal.carriers.easypost_carrier import EasyPostCarrier


def carrier(secret: str | None) -> EasyPostCarrier:
    # The webhook path makes no API call, so the API base is never contacted.
    return EasyPostCarrier("EZTK_unused", secret, api_base="http://127.0.0.1:9/v2")


def sign(body: bytes, secret: str) -> str:
    key = unicodedata.normalize("NFKD", secret).encode()
    return "hmac-sha256-hex=" + hmac.new(key, body, hashlib.sha256).hexdigest()


@pytest.mark.parametrize(
    "header", ["X-Hmac-Signature", "x-hmac-signature", "X-HMAC-SIGNATURE", "x-Hmac-signature"]
)
def test_signed_tracker_event_is_accepted(signed_webhook, header):
    body, secret, signature = signed_webhook

    update = carrier(secret).parse_webhook(body, {header: signature, "Content-Type": "json"})

    assert update is not None
    assert update.tracking_code == "1"
    assert update.status is TrackingStatus.IN_TRANSIT
    assert update.status_detail == "arrived_at_facility"
    assert len(update.events) == 7
    assert update.events[0].status is TrackingStatus.PRE_TRANSIT
    assert update.events[-1].message == "Arrived at FedEx location"
    assert update.events[-1].location == "EDISON, NJ 08817 US"
    assert update.occurred_at == datetime(2024, 8, 2, 18, 50, tzinfo=UTC)
    assert update.est_delivery == datetime(2024, 8, 5, tzinfo=UTC)


def test_framework_header_mappings_work(signed_webhook):
    body, secret, signature = signed_webhook
    headers = httpx.Headers({"x-hmac-signature": signature})  # a case-insensitive Mapping
    assert carrier(secret).parse_webhook(body, headers) is not None


@pytest.mark.parametrize("position", [0, 1, 200, 1000, -2, -1])
def test_one_changed_byte_is_rejected(signed_webhook, position):
    body, secret, signature = signed_webhook
    tampered = bytearray(body)
    tampered[position] ^= 0x01
    with pytest.raises(WebhookSignatureInvalid):
        carrier(secret).parse_webhook(bytes(tampered), {"X-Hmac-Signature": signature})


def test_the_file_with_its_trailing_newline_is_not_the_signed_body(
    easypost_fixtures, signed_webhook
):
    _, secret, signature = signed_webhook
    raw = (easypost_fixtures / "fixtures" / "event-body.json").read_bytes()
    assert raw.endswith(b"\n")
    with pytest.raises(WebhookSignatureInvalid):
        carrier(secret).parse_webhook(raw, {"X-Hmac-Signature": signature})


@pytest.mark.parametrize(
    "mangle",
    [
        lambda s: s[:-1] + ("0" if s[-1] != "0" else "1"),  # one hex digit changed
        lambda s: s.replace("hmac-sha256-hex=", ""),  # digest without its prefix
        lambda s: s.upper(),
        lambda s: "",
    ],
)
def test_changed_signature_is_rejected(signed_webhook, mangle):
    body, secret, signature = signed_webhook
    with pytest.raises(WebhookSignatureInvalid):
        carrier(secret).parse_webhook(body, {"X-Hmac-Signature": mangle(signature)})


def test_missing_header_is_rejected(signed_webhook):
    body, secret, _ = signed_webhook
    with pytest.raises(WebhookSignatureInvalid):
        carrier(secret).parse_webhook(body, {"Content-Type": "application/json"})


def test_wrong_secret_is_rejected(signed_webhook):
    body, _, signature = signed_webhook
    with pytest.raises(WebhookSignatureInvalid):
        carrier("secret").parse_webhook(body, {"X-Hmac-Signature": signature})


def test_without_a_configured_secret_everything_is_rejected(signed_webhook):
    body, _, signature = signed_webhook
    with pytest.raises(WebhookSignatureInvalid):
        carrier(None).parse_webhook(body, {"X-Hmac-Signature": signature})


def test_other_events_are_verified_then_ignored():
    body = json.dumps({"object": "Event", "description": "batch.created", "result": {}}).encode()
    secret = "s\u00e9cret"
    assert carrier(secret).parse_webhook(body, {"X-Hmac-Signature": sign(body, secret)}) is None
    with pytest.raises(WebhookSignatureInvalid):
        carrier(secret).parse_webhook(body, {"X-Hmac-Signature": sign(body, "other")})


def test_signed_garbage_is_an_error_not_a_crash():
    body = b"not json at all"
    with pytest.raises(CarrierError):
        carrier("k").parse_webhook(body, {"X-Hmac-Signature": sign(body, "k")})
