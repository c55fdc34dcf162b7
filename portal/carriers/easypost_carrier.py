"""EasyPost behind our `Carrier` protocol, through the official `easypost` SDK (v10).

Nothing from the SDK leaves this module: shipments, rates and trackers are turned into our
frozen dataclasses, and SDK exceptions into our `CarrierError` family.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import easypost
import httpx
from easypost import errors as ep_errors
from easypost.util import validate_webhook

from portal.carriers.base import (
    Address,
    AddressInvalid,
    CarrierError,
    CarrierUnavailable,
    Label,
    LabelRequest,
    NoRates,
    Parcel,
    TrackingEvent,
    TrackingStatus,
    TrackingUpdate,
    WebhookSignatureInvalid,
    ensure_utc,
    header_value,
)

__all__ = ["EasyPostCarrier", "httpx_label_fetcher", "map_easypost_error", "map_status"]

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Hmac-Signature"

#: EasyPost tracker statuses -> ours. `available_for_pickup` is the last step before the
#: recipient has it, like out_for_delivery; cancelled/error trackers will not progress.
_STATUS_MAP: dict[str, TrackingStatus] = {
    "pre_transit": TrackingStatus.PRE_TRANSIT,
    "in_transit": TrackingStatus.IN_TRANSIT,
    "out_for_delivery": TrackingStatus.OUT_FOR_DELIVERY,
    "available_for_pickup": TrackingStatus.OUT_FOR_DELIVERY,
    "delivered": TrackingStatus.DELIVERED,
    "return_to_sender": TrackingStatus.RETURNED_TO_SENDER,
    "failure": TrackingStatus.FAILURE,
    "error": TrackingStatus.FAILURE,
    "cancelled": TrackingStatus.FAILURE,
    "unknown": TrackingStatus.UNKNOWN,
}

#: ISO 4217 currencies without minor units (the rest EasyPost quotes have two).
_ZERO_DECIMAL = frozenset({"JPY", "KRW", "VND", "CLP", "ISK", "UGX", "XAF", "XOF", "PYG"})
_REFUND_ACCEPTED = frozenset({"submitted", "refunded"})


def map_status(status: str | None) -> TrackingStatus:
    """EasyPost tracker status -> our normalized enum (unknown for anything new)."""
    return _STATUS_MAP.get((status or "unknown").lower(), TrackingStatus.UNKNOWN)


def to_minor_units(amount: str | float | int, currency: str) -> int:
    """EasyPost quotes decimal strings ("6.07"); we store integer minor units (607)."""
    try:
        value = Decimal(str(amount))
    except InvalidOperation as exc:
        raise CarrierError(f"unparseable amount {amount!r}") from exc
    exponent = 0 if currency.upper() in _ZERO_DECIMAL else 2
    return int((value * (10**exponent)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    if isinstance(value, datetime):
        return ensure_utc(value)
    try:
        return ensure_utc(datetime.fromisoformat(str(value)))
    except ValueError:
        return None


def map_easypost_error(exc: Exception) -> CarrierError:
    """Translate an SDK exception into our error family, deciding what is retryable."""
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    if isinstance(exc, CarrierError):
        return exc
    if isinstance(exc, ep_errors.FilteringError):
        return NoRates(message)
    if isinstance(exc, ep_errors.SignatureVerificationError):
        return WebhookSignatureInvalid(message)
    if not isinstance(exc, ep_errors.ApiError):
        return CarrierError(message)
    code = exc.code or None
    status = exc.http_status
    # No HTTP status at all means we never got an answer (timeout, refused, DNS, TLS).
    if isinstance(exc, ep_errors.TimeoutError | ep_errors.HttpError) and status is None:
        return CarrierUnavailable(message, code=code)
    if isinstance(exc, ep_errors.RateLimitError) or (status is not None and status >= 500):
        return CarrierUnavailable(message, code=code)
    if isinstance(exc, ep_errors.JsonError):
        # A non-JSON answer is a proxy or gateway error page, not EasyPost's verdict.
        return CarrierUnavailable(message, code=code)
    if _is_address_error(exc):
        return AddressInvalid(message, code=code)
    return CarrierError(message, code=code, retryable=False)


def _is_address_error(exc: ep_errors.ApiError) -> bool:
    if "ADDRESS" in (exc.code or "").upper():
        return True
    for item in exc.errors or []:
        field = item.get("field", "") if isinstance(item, dict) else str(item)
        if "address" in str(field).lower():
            return True
    return False


def httpx_label_fetcher(
    timeout: float = 30.0, client: httpx.Client | None = None
) -> Callable[[str], bytes]:
    """Production label downloader: follows EasyPost's storage URL (and its redirects).

    `client` lets the caller share a connection pool (or, in tests, a mock transport).
    """

    def fetch(url: str) -> bytes:
        if not url.startswith("https://"):
            raise CarrierError(f"refusing to download a label over a non-https URL: {url}")
        try:
            if client is not None:
                response = client.get(url, follow_redirects=True, timeout=timeout)
            else:
                response = httpx.get(url, follow_redirects=True, timeout=timeout)
            response.raise_for_status()
        except httpx.HTTPStatusError as exc:
            status = exc.response.status_code
            # 404 included: a freshly written label file can lag behind the purchase.
            retryable = status >= 500 or status in (404, 408, 429)
            raise CarrierError(f"label download failed: {exc}", retryable=retryable) from exc
        except httpx.HTTPError as exc:
            raise CarrierUnavailable(f"label download failed: {exc}") from exc
        return response.content

    return fetch


class EasyPostCarrier:
    """`Carrier` backed by EasyPost.

    `label_fetcher` downloads `postage_label` URLs; tests inject one because recorded URLs
    point at EasyPost's storage and must not be fetched. `label_format` is what we ask
    EasyPost for; PNG labels are wrapped into a PDF either way.
    """

    def __init__(
        self,
        api_key: str,
        webhook_secret: str | None,
        api_base: str | None = None,
        timeout: float = 30.0,
        *,
        label_fetcher: Callable[[str], bytes] | None = None,
        label_format: str = "PDF",
        fetch_attempts: int = 3,
    ) -> None:
        if not api_key:
            raise ValueError("an EasyPost API key is required")
        kwargs: dict[str, Any] = {"timeout": timeout}
        if api_base:
            kwargs["api_base"] = api_base.rstrip("/")
        self._client = easypost.EasyPostClient(api_key, **kwargs)
        self._webhook_secret = webhook_secret
        self._fetch_label = label_fetcher or httpx_label_fetcher(timeout)
        self._label_format = label_format.upper()
        self._fetch_attempts = max(1, fetch_attempts)

    # -- labels ---------------------------------------------------------------------------

    def create_shipment(self, req: LabelRequest) -> str:
        """Create the EasyPost shipment (which quotes its rates) without buying postage."""
        try:
            shipment = self._client.shipment.create(**self._shipment_params(req))
        except ep_errors.EasyPostError as exc:
            raise map_easypost_error(exc) from exc
        return str(shipment.id)

    def buy_label(self, req: LabelRequest, shipment_id: str | None = None) -> Label:
        """Pick a rate, buy it and fetch the label as a PDF.

        Without `shipment_id` the shipment is created first. With it, the shipment is
        retrieved: one that already has postage (an earlier attempt bought it, then died) is
        reused as it is; otherwise that same shipment is bought. A shipment whose postage
        was refunded cannot be reused, so a new one is created and bought.
        """
        rate: Any = None
        try:
            shipment = None
            if shipment_id is not None:
                shipment = self._client.shipment.retrieve(shipment_id)
                if _refunded(shipment):
                    log.warning("shipment %s was refunded; buying a new one", shipment_id)
                    shipment, shipment_id = None, None
            if shipment is None:
                shipment = self._client.shipment.create(**self._shipment_params(req))
            if _bought(shipment):
                log.info("shipment %s was already bought; reusing its label", shipment.id)
                bought = shipment
            else:
                rate = self._choose_rate(shipment, req.preferred_carriers, req.preferred_services)
                bought = self._client.shipment.buy(shipment.id, rate=rate)
        except ep_errors.EasyPostError as exc:
            raise map_easypost_error(exc) from exc

        try:
            pdf, source_format = self._label_pdf(bought.get("postage_label"))
        except CarrierError as exc:
            if shipment_id is not None and exc.retryable:
                # The caller has this shipment's id on record: a retry finds it bought and
                # fetches the label again, so keep the postage rather than void it.
                raise
            # Postage is paid but we hold no label: refund it so a retried job can start over
            # cleanly instead of leaving a paid, unusable label behind.
            voided = self._compensate(bought.id, exc)
            raise type(exc)(
                f"label for {bought.id} could not be fetched "
                f"({'shipment voided' if voided else 'VOID FAILED, refund it by hand'}): "
                f"{exc.message}",
                code=exc.code,
                retryable=exc.retryable,
            ) from exc

        selected = bought.get("selected_rate") or rate
        if not selected:
            raise CarrierError(f"shipment {bought.id} has postage but no selected rate")
        currency = str(selected.get("currency") or "USD").upper()
        tracker = bought.get("tracker")
        return Label(
            carrier=str(selected.get("carrier")),
            service=str(selected.get("service")),
            tracking_code=str(bought.get("tracking_code")),
            shipment_id=str(bought.id),
            tracker_id=str(tracker.id) if tracker and tracker.get("id") else None,
            rate_amount=to_minor_units(selected.get("rate"), currency),
            currency=currency,
            label_pdf=pdf,
            label_format=source_format,
        )

    def _shipment_params(self, req: LabelRequest) -> dict[str, Any]:
        # EasyPost's return convention: send the addresses as the *outbound* shipment had them
        # (to = shopper, from = warehouse) with is_return=true, and EasyPost swaps them on the
        # label. Our request states the physical direction (from = shopper), hence the swap.
        if req.is_return:
            to_address, from_address = req.from_address, req.to_address
        else:
            to_address, from_address = req.to_address, req.from_address
        return {
            "to_address": _address_params(to_address),
            "from_address": _address_params(from_address),
            "parcel": _parcel_params(req.parcel),
            "is_return": req.is_return,
            "reference": req.reference,
            "options": {"label_format": self._label_format, "print_custom_1": req.reference},
        }

    @staticmethod
    def _choose_rate(shipment: Any, carriers: Sequence[str], services: Sequence[str]) -> Any:
        """First preferred (carrier, service) pair that has a rate, cheapest within it;
        without preferences, or when none match, the cheapest rate overall."""
        rates = list(shipment.get("rates") or [])
        if not rates:
            messages = "; ".join(
                str(m.get("message")) for m in shipment.get("messages") or [] if m.get("message")
            )
            raise NoRates(f"EasyPost returned no rates{': ' + messages if messages else ''}")
        for carrier in carriers or (None,):
            for service in services or (None,):
                matching = [
                    r
                    for r in rates
                    if (carrier is None or str(r.carrier).lower() == carrier.lower())
                    and (service is None or str(r.service).lower() == service.lower())
                ]
                if matching and (carrier or service):
                    return min(matching, key=lambda r: Decimal(str(r.rate)))
        if carriers or services:
            log.info(
                "no rate matches preferences carriers=%s services=%s; using the cheapest",
                carriers,
                services,
            )
        return shipment.lowest_rate()

    def _label_pdf(self, postage_label: Any) -> tuple[bytes, str]:
        if not postage_label:
            raise CarrierError("the bought shipment has no postage_label")
        url = postage_label.get("label_pdf_url") or postage_label.get("label_url")
        if not url:
            raise CarrierError("postage_label has no downloadable URL")
        data = self._download(url)
        if data.startswith(b"%PDF-"):
            return data, "PDF"
        from portal.documents.pdf import image_to_pdf, sniff_image  # WeasyPrint: on use only

        mime = sniff_image(data)
        if mime is None:
            declared = postage_label.get("label_file_type") or "unknown"
            raise CarrierError(f"label is neither PDF nor an image (declared {declared})")
        return image_to_pdf(data), mime.removeprefix("image/").upper()

    def _download(self, url: str) -> bytes:
        last: CarrierError | None = None
        for attempt in range(self._fetch_attempts):
            try:
                data = self._fetch_label(url)
            except CarrierError as exc:
                last = exc
            except Exception as exc:  # an injected fetcher may raise anything
                last = CarrierUnavailable(f"label download failed: {exc}")
            else:
                if data:
                    return data
                last = CarrierUnavailable("label download returned no data")
            if last is not None and not last.retryable:
                break
            if attempt + 1 < self._fetch_attempts:
                time.sleep(0.2 * 2**attempt)
        assert last is not None
        raise last

    def _compensate(self, shipment_id: str, cause: CarrierError) -> bool:
        try:
            self._client.shipment.refund(shipment_id)
        except Exception:
            log.exception("could not void %s after label fetch failure (%s)", shipment_id, cause)
            return False
        return True

    def void_label(self, shipment_id: str) -> bool:
        """Refund the shipment's postage. True when EasyPost accepted (or already had)
        the refund, False when it rejected it (e.g. the label was already scanned)."""
        try:
            shipment = self._client.shipment.refund(shipment_id)
        except ep_errors.InvalidRequestError as exc:
            # A repeated void (retried job) is refused by EasyPost; check the shipment so
            # that "already refunded" counts as success.
            try:
                current = self._client.shipment.retrieve(shipment_id)
            except ep_errors.EasyPostError:
                raise map_easypost_error(exc) from exc
            if str(current.get("refund_status") or "") in _REFUND_ACCEPTED:
                return True
            raise map_easypost_error(exc) from exc
        except ep_errors.EasyPostError as exc:
            raise map_easypost_error(exc) from exc
        return str(shipment.get("refund_status") or "") in _REFUND_ACCEPTED

    # -- tracking -------------------------------------------------------------------------

    def track(self, tracking_code: str, tracker_id: str | None = None) -> TrackingUpdate:
        """Retrieve the tracker when we know its id, otherwise create one for the code."""
        try:
            if tracker_id:
                tracker = self._client.tracker.retrieve(tracker_id)
            else:
                tracker = self._client.tracker.create(tracking_code=tracking_code)
        except ep_errors.EasyPostError as exc:
            raise map_easypost_error(exc) from exc
        return tracking_update_from_tracker(tracker.to_dict())

    # -- webhooks -------------------------------------------------------------------------

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> TrackingUpdate | None:
        """Verify EasyPost's HMAC with the SDK, then map `tracker.*` events; None otherwise."""
        if not self._webhook_secret:
            raise WebhookSignatureInvalid("no EasyPost webhook secret configured")
        signature = header_value(headers, SIGNATURE_HEADER)
        if not signature:
            raise WebhookSignatureInvalid("missing X-Hmac-Signature header")
        try:
            # The SDK reads the header with exact casing, so hand it a normalized mapping.
            event = validate_webhook(body, {SIGNATURE_HEADER: signature}, self._webhook_secret)
        except ep_errors.SignatureVerificationError as exc:
            raise WebhookSignatureInvalid(exc.message) from exc
        except ValueError as exc:  # signed, but not JSON
            raise CarrierError("signed webhook body is not JSON") from exc
        return tracking_update_from_event(event)


def tracking_update_from_event(event: Any) -> TrackingUpdate | None:
    """Map a (verified) EasyPost event body; only tracker events concern us."""
    if not isinstance(event, dict):
        return None
    description = str(event.get("description") or "")
    result = event.get("result")
    if not description.startswith("tracker.") or not isinstance(result, dict):
        return None
    if result.get("object") not in (None, "Tracker"):
        return None
    return tracking_update_from_tracker(result)


def tracking_update_from_tracker(tracker: Mapping[str, Any]) -> TrackingUpdate:
    """Map an EasyPost Tracker (as a plain dict) to our `TrackingUpdate`."""
    events: list[TrackingEvent] = []
    for detail in tracker.get("tracking_details") or []:
        occurred = _parse_time(detail.get("datetime"))
        if occurred is None:
            continue
        events.append(
            TrackingEvent(
                occurred_at=occurred,
                status=map_status(detail.get("status")),
                status_detail=detail.get("status_detail") or None,
                message=str(detail.get("message") or detail.get("description") or ""),
                location=_location(detail.get("tracking_location")),
            )
        )
    events.sort(key=lambda e: e.occurred_at)
    occurred_at = (
        events[-1].occurred_at
        if events
        else _parse_time(tracker.get("updated_at")) or _parse_time(tracker.get("created_at"))
    )
    if occurred_at is None:
        raise CarrierError("tracker has neither events nor timestamps")
    return TrackingUpdate(
        tracking_code=str(tracker.get("tracking_code") or ""),
        status=map_status(tracker.get("status")),
        status_detail=tracker.get("status_detail") or None,
        occurred_at=occurred_at,
        events=tuple(events),
        est_delivery=_parse_time(tracker.get("est_delivery_date")),
    )


def _bought(shipment: Any) -> bool:
    """Whether postage was bought for this (retrieved) shipment."""
    return bool(shipment.get("postage_label")) and bool(shipment.get("tracking_code"))


def _refunded(shipment: Any) -> bool:
    return str(shipment.get("refund_status") or "") in _REFUND_ACCEPTED


def _location(loc: Any) -> str | None:
    if not isinstance(loc, Mapping):
        return None
    city, state, zip_code, country = (loc.get(k) for k in ("city", "state", "zip", "country"))
    text = ", ".join(p for p in (city, " ".join(q for q in (state, zip_code) if q)) if p)
    if country:
        text = f"{text} {country}".strip()
    return text or None


def _address_params(address: Address) -> dict[str, Any]:
    params = {
        "name": address.name,
        "company": address.company,
        "street1": address.street1,
        "street2": address.street2,
        "city": address.city,
        "state": address.state,
        "zip": address.zip,
        "country": address.country,
        "phone": address.phone,
        "email": address.email,
    }
    return {k: v for k, v in params.items() if v}


def _parcel_params(parcel: Parcel) -> dict[str, float]:
    return {
        "length": parcel.length_in,
        "width": parcel.width_in,
        "height": parcel.height_in,
        "weight": parcel.weight_oz,
    }
