"""The sandbox carrier: the embedded default, so a fresh clone works with no keys at all.

It is a product, not a test double: it makes a real 4x6 inch PDF label (clearly marked
SANDBOX - NOT A REAL LABEL) and simulates tracking so the status page and the warehouse
flow come alive in a demo.

It keeps no state, so any web or worker replica can serve any call:

* the tracking number and the shipment id are derived from the request's idempotency key (a
  retried job gets the same ones, and a shipment id from `create_shipment` is recognised by
  `buy_label` without any lookup table);
* the label's creation time travels inside the tracker id (``sbxtrk_<tracking>_<epoch>``),
  so `track()` needs the `Label.tracker_id` to simulate progress: pre_transit at creation,
  then in_transit, out_for_delivery and delivered one `pace` apart;
* webhooks: the sandbox never sends any by itself, but it accepts ones signed with its own
  `webhook_secret` (same ``X-Hmac-Signature: hmac-sha256-hex=...`` scheme as EasyPost), so the
  demo and tests can drive the webhook endpoint end to end; `sign_webhook()` makes them.
  Without a secret every webhook is rejected.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

import jinja2

from portal.carriers.base import (
    AddressInvalid,
    CarrierError,
    Label,
    LabelRequest,
    TrackingEvent,
    TrackingStatus,
    TrackingUpdate,
    WebhookSignatureInvalid,
    ensure_utc,
    header_value,
)
from portal.documents.barcodes import code128_svg

__all__ = ["SandboxCarrier", "sandbox_shipment_id", "sandbox_tracking_code"]

SIGNATURE_HEADER = "X-Hmac-Signature"
_SIGNATURE_PREFIX = "hmac-sha256-hex="
_TRACKER_ID = re.compile(r"^sbxtrk_(?P<code>SBX\d{16})_(?P<epoch>\d{1,12})$")
_SHIPMENT_ID = re.compile(r"^sbxshp_[0-9a-f]{24}$")
#: Postal codes the sandbox refuses, so the "address invalid" path can be demonstrated.
INVALID_ZIPS = frozenset({"00000"})

# (status, status_detail, message) for each simulated step, in order.
_STEPS: tuple[tuple[TrackingStatus, str, str], ...] = (
    (TrackingStatus.PRE_TRANSIT, "label_created", "Sandbox label created"),
    (TrackingStatus.IN_TRANSIT, "arrived_at_facility", "Picked up by Sandbox Post"),
    (TrackingStatus.OUT_FOR_DELIVERY, "out_for_delivery", "Out for delivery to the warehouse"),
    (TrackingStatus.DELIVERED, "arrived_at_destination", "Delivered to the warehouse"),
)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def sandbox_tracking_code(idempotency_key: str) -> str:
    """`SBX` + 16 digits derived from the idempotency key: stable across retries."""
    digest = hashlib.sha256(f"sandbox-tracking:{idempotency_key}".encode()).digest()
    return f"SBX{int.from_bytes(digest[:8], 'big') % 10**16:016d}"


def sandbox_shipment_id(idempotency_key: str) -> str:
    """``sbxshp_`` + 24 hex digits derived from the idempotency key: stable across retries."""
    digest = hashlib.sha256(f"sandbox-shipment:{idempotency_key}".encode()).hexdigest()
    return f"sbxshp_{digest[:24]}"


_LABEL_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sandbox label {{ tracking_code }}</title>
</head><body>
<div class="watermark">SANDBOX</div>
<div class="band">SANDBOX &mdash; NOT A REAL LABEL</div>
<div class="row top">
  <div class="from">
    <div class="caption">FROM</div>
    <div>{{ from_address.name }}</div>
    {% for line in from_address.lines() %}<div>{{ line }}</div>{% endfor %}
  </div>
  <div class="svc">
    <div class="svc-letter">{{ "R" if is_return else "G" }}</div>
    <div class="caption">{{ carrier }} {{ service }}</div>
  </div>
</div>
<div class="to">
  <div class="caption">SHIP TO</div>
  <div class="to-name">{{ to_address.name }}</div>
  {% for line in to_address.lines() %}<div>{{ line }}</div>{% endfor %}
</div>
<div class="service">SANDBOX POST {{ service | upper }}{% if is_return %} &middot; RETURN{% endif %}</div>
<div class="tracking">
  <div class="caption">TRACKING #</div>
  {{ tracking_svg | safe }}
  <div class="code">{{ tracking_code }}</div>
</div>
<div class="row rma">
  <div><div class="caption">RMA</div><div class="rma-code">{{ reference }}</div></div>
  <div>{{ rma_svg | safe }}</div>
</div>
<div class="foot">
  {{ weight }} &middot; {{ dims }} &middot; {{ created_at }}<br>
  Sandbox label: no postage has been paid. Do not hand this parcel to a carrier.
</div>
</body></html>
"""

_LABEL_CSS = """
@page { size: 4in 6in; margin: 0.12in; }
html { font-family: "DejaVu Sans", "Liberation Sans", sans-serif; font-size: 8pt; }
body { margin: 0; }
.watermark { position: absolute; top: 2.4in; left: -0.2in; width: 4.2in; text-align: center;
  font-size: 54pt; font-weight: bold; color: #e6e6e6; transform: rotate(-35deg); z-index: -1; }
.band { background: #000; color: #fff; font-weight: bold; font-size: 11pt; text-align: center;
  padding: 3pt 0; }
.row { display: flex; }
.top { height: 0.9in; border-bottom: 1.5pt solid #000; overflow: hidden; }
.from { flex: 1; padding: 3pt; overflow: hidden; }
.svc { width: 0.95in; border-left: 1.5pt solid #000; text-align: center; padding-top: 2pt; }
.svc-letter { font-size: 30pt; font-weight: bold; line-height: 1; }
.caption { font-size: 6.5pt; font-weight: bold; letter-spacing: 0.5pt; }
.to { height: 1.25in; padding: 4pt 6pt; font-size: 11pt; overflow: hidden;
  border-bottom: 1.5pt solid #000; }
.to-name { font-weight: bold; }
.service { font-size: 10pt; font-weight: bold; text-align: center; padding: 3pt 0;
  border-bottom: 3pt solid #000; }
.tracking { text-align: center; padding: 6pt 0 2pt; height: 1.05in;
  border-bottom: 3pt solid #000; }
.tracking svg { display: block; margin: 2pt auto; }
.code { font-family: "DejaVu Sans Mono", monospace; font-size: 10pt; font-weight: bold; }
.rma { align-items: center; justify-content: space-between; padding: 5pt 3pt;
  border-bottom: 1pt solid #000; }
.rma-code { font-family: "DejaVu Sans Mono", monospace; font-size: 10pt; font-weight: bold;
  white-space: nowrap; }
.foot { font-size: 6.5pt; padding-top: 4pt; }
"""

_env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
_label_template = _env.from_string(_LABEL_TEMPLATE)


class SandboxCarrier:
    """Local carrier that makes real sandbox PDF labels and simulated tracking."""

    carrier_name = "SANDBOX"
    service_name = "Ground"

    def __init__(
        self,
        *,
        pace: timedelta = timedelta(hours=6),
        now: Callable[[], datetime] = _utcnow,
        webhook_secret: str | None = None,
        rate_amount: int = 0,
        currency: str = "USD",
    ) -> None:
        if pace <= timedelta(0):
            raise ValueError("pace must be positive")
        self.pace = pace
        self._now = now
        self._webhook_secret = webhook_secret
        self.rate_amount = rate_amount
        self.currency = currency

    # -- labels ---------------------------------------------------------------------------

    def create_shipment(self, req: LabelRequest) -> str:
        """Check the addresses and name the shipment; its id is derived from the request's
        idempotency key, so the sandbox can recognise it again without keeping state."""
        self._check_addresses(req)
        return sandbox_shipment_id(req.idempotency_key)

    def buy_label(self, req: LabelRequest, shipment_id: str | None = None) -> Label:
        """Render a real 4x6 sandbox label PDF; no money changes hands.

        `shipment_id` must be the one `create_shipment` named for this request. Buying it
        again (a retried job) gives the same shipment id and tracking number, just as
        looking up an already bought shipment would."""
        self._check_addresses(req)
        expected = sandbox_shipment_id(req.idempotency_key)
        if shipment_id is not None and shipment_id != expected:
            raise CarrierError(f"sandbox shipment {shipment_id} is not the one for {req.reference}")
        created = ensure_utc(self._now())
        tracking_code = sandbox_tracking_code(req.idempotency_key)
        pdf = self.render_label(req, tracking_code, created)
        return Label(
            carrier=self.carrier_name,
            service=self.service_name,
            tracking_code=tracking_code,
            shipment_id=expected,
            tracker_id=f"sbxtrk_{tracking_code}_{int(created.timestamp())}",
            rate_amount=self.rate_amount,
            currency=self.currency,
            label_pdf=pdf,
            label_format="PDF",
        )

    @staticmethod
    def _check_addresses(req: LabelRequest) -> None:
        for role, address in (("from", req.from_address), ("to", req.to_address)):
            missing = [f for f in ("name", "street1", "city", "zip") if not getattr(address, f)]
            if missing:
                raise AddressInvalid(
                    f"{role} address is missing {', '.join(missing)}", code="ADDRESS.MISSING"
                )
            if address.zip.strip() in INVALID_ZIPS:
                raise AddressInvalid(
                    f"{role} address postal code {address.zip!r} does not exist",
                    code="ADDRESS.VERIFY.FAILURE",
                )

    def render_label(self, req: LabelRequest, tracking_code: str, created: datetime) -> bytes:
        """The label PDF itself; public so previews can be made without 'buying'."""
        from portal.documents.pdf import render_pdf, stylesheet_from_string  # WeasyPrint: on use

        parcel = req.parcel
        html = _label_template.render(
            tracking_code=tracking_code,
            tracking_svg=code128_svg(tracking_code, height_mm=16, max_width_mm=92),
            rma_svg=code128_svg(req.reference, height_mm=9, module_mm=0.3, max_width_mm=48),
            reference=req.reference,
            is_return=req.is_return,
            from_address=req.from_address,
            to_address=req.to_address,
            carrier=self.carrier_name,
            service=self.service_name,
            weight=f"{parcel.weight_oz:g} oz",
            dims=f"{parcel.length_in:g} x {parcel.width_in:g} x {parcel.height_in:g} in",
            created_at=created.strftime("%Y-%m-%d %H:%M UTC"),
        )
        return render_pdf(html, [stylesheet_from_string(_LABEL_CSS)])

    def void_label(self, shipment_id: str) -> bool:
        """Sandbox labels cost nothing, so voiding one always succeeds (if it is ours)."""
        return bool(_SHIPMENT_ID.match(shipment_id))

    # -- tracking -------------------------------------------------------------------------

    def track(self, tracking_code: str, tracker_id: str | None = None) -> TrackingUpdate:
        """Simulated progress since the label was made, one step per `pace`."""
        now = ensure_utc(self._now())
        match = _TRACKER_ID.match(tracker_id or "")
        if match is None:
            # Without the tracker id we cannot know when the label was made: say so honestly.
            return TrackingUpdate(
                tracking_code=tracking_code,
                status=TrackingStatus.UNKNOWN,
                status_detail="tracker_id_required",
                occurred_at=now,
            )
        if match["code"] != tracking_code:
            raise CarrierError(f"tracker {tracker_id} does not track {tracking_code}")
        created = datetime.fromtimestamp(int(match["epoch"]), UTC)
        elapsed = max(now - created, timedelta(0))
        reached = min(len(_STEPS) - 1, int(elapsed / self.pace))
        events = tuple(
            TrackingEvent(
                occurred_at=created + i * self.pace,
                status=status,
                status_detail=detail,
                message=message,
                location="Sandbox Post",
            )
            for i, (status, detail, message) in enumerate(_STEPS[: reached + 1])
        )
        latest = events[-1]
        return TrackingUpdate(
            tracking_code=tracking_code,
            status=latest.status,
            status_detail=latest.status_detail,
            occurred_at=latest.occurred_at,
            events=events,
            est_delivery=created + (len(_STEPS) - 1) * self.pace,
        )

    # -- webhooks -------------------------------------------------------------------------

    def sign_webhook(self, body: bytes) -> dict[str, str]:
        """Headers that make `body` acceptable to `parse_webhook` (for demos and tests)."""
        if not self._webhook_secret:
            raise WebhookSignatureInvalid("sandbox webhooks are disabled: no webhook_secret")
        return {SIGNATURE_HEADER: _SIGNATURE_PREFIX + self._digest(body)}

    @staticmethod
    def webhook_body(tracking_code: str, tracker_id: str) -> bytes:
        """A `tracker.updated` event body for a sandbox tracker."""
        event = {
            "object": "Event",
            "description": "tracker.updated",
            "result": {"object": "Tracker", "tracking_code": tracking_code, "id": tracker_id},
        }
        return json.dumps(event, separators=(",", ":")).encode()

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> TrackingUpdate | None:
        """Verify our own HMAC, then answer a `tracker.updated` event with `track()`."""
        if not self._webhook_secret:
            raise WebhookSignatureInvalid("sandbox webhooks are disabled: no webhook_secret")
        signature = header_value(headers, SIGNATURE_HEADER)
        if not signature:
            raise WebhookSignatureInvalid("missing X-Hmac-Signature header")
        expected = _SIGNATURE_PREFIX + self._digest(body)
        if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
            raise WebhookSignatureInvalid("webhook signature does not match")
        try:
            event = json.loads(body)
        except ValueError as exc:
            raise CarrierError("signed webhook body is not JSON") from exc
        if not isinstance(event, dict) or event.get("description") != "tracker.updated":
            return None
        result = event.get("result") or {}
        code, tracker_id = result.get("tracking_code"), result.get("id")
        if not isinstance(code, str) or not isinstance(tracker_id, str):
            raise CarrierError("sandbox tracker event lacks tracking_code or id")
        return self.track(code, tracker_id)

    def _digest(self, body: bytes) -> str:
        assert self._webhook_secret
        return hmac.new(self._webhook_secret.encode(), body, hashlib.sha256).hexdigest()
