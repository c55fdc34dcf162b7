"""The carrier boundary: our own frozen types, errors and the `Carrier` protocol.

Everything that crosses this boundary is defined here so the domain never sees an SDK
object. Money is integer minor units, times are timezone-aware UTC.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

__all__ = [
    "Address",
    "AddressInvalid",
    "Carrier",
    "CarrierError",
    "CarrierUnavailable",
    "Label",
    "LabelRequest",
    "NoRates",
    "Parcel",
    "TrackingEvent",
    "TrackingStatus",
    "TrackingUpdate",
    "WebhookSignatureInvalid",
    "ensure_utc",
    "header_value",
]


class TrackingStatus(enum.StrEnum):
    """Our normalized tracking states; each carrier maps its own vocabulary onto these."""

    PRE_TRANSIT = "pre_transit"
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERED = "delivered"
    RETURNED_TO_SENDER = "returned_to_sender"
    FAILURE = "failure"
    UNKNOWN = "unknown"


def ensure_utc(value: datetime) -> datetime:
    """Return `value` as an aware UTC datetime; naive values are taken to already be UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    """Look a header up case-insensitively (frameworks differ in how they case names)."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


@dataclass(frozen=True, slots=True)
class Address:
    """A postal address as carriers need it (country is ISO 3166-1 alpha-2)."""

    name: str
    street1: str
    street2: str | None
    city: str
    state: str
    zip: str
    country: str
    phone: str | None = None
    email: str | None = None
    company: str | None = None

    def __post_init__(self) -> None:
        if len(self.country) != 2 or not self.country.isalpha():
            raise ValueError(f"country must be an ISO alpha-2 code, got {self.country!r}")
        object.__setattr__(self, "country", self.country.upper())

    def lines(self) -> tuple[str, ...]:
        """The address as printable lines (without the name), for labels and slips."""
        city_line = " ".join(
            p for p in (f"{self.city}," if self.city else "", self.state, self.zip) if p
        )
        return tuple(
            line
            for line in (self.company, self.street1, self.street2, city_line, self.country)
            if line
        )


@dataclass(frozen=True, slots=True)
class Parcel:
    """Parcel dimensions in inches and weight in ounces (the units US carriers quote in)."""

    length_in: float
    width_in: float
    height_in: float
    weight_oz: float

    def __post_init__(self) -> None:
        for name in ("length_in", "width_in", "height_in", "weight_oz"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")


@dataclass(frozen=True, slots=True)
class LabelRequest:
    """What the domain asks a carrier for: a prepaid label from the shopper to the warehouse.

    `from_address` is where the parcel physically starts (the shopper) and `to_address` where
    it ends (the warehouse), whatever the carrier's own conventions for returns are.
    `idempotency_key` identifies the job's intent so a retried job can be recognised; it
    defaults to one derived from `reference`.
    """

    reference: str
    from_address: Address
    to_address: Address
    parcel: Parcel
    is_return: bool = True
    preferred_carriers: tuple[str, ...] = ()
    preferred_services: tuple[str, ...] = ()
    idempotency_key: str = ""

    def __post_init__(self) -> None:
        if not self.reference:
            raise ValueError("reference (the RMA number) is required")
        if not self.idempotency_key:
            object.__setattr__(self, "idempotency_key", f"label:{self.reference}")
        object.__setattr__(self, "preferred_carriers", tuple(self.preferred_carriers))
        object.__setattr__(self, "preferred_services", tuple(self.preferred_services))


@dataclass(frozen=True, slots=True)
class Label:
    """A bought label. `label_pdf` is always a PDF; `label_format` names the format the
    carrier delivered it in ("PDF", or "PNG" when we converted it)."""

    carrier: str
    service: str
    tracking_code: str
    shipment_id: str
    tracker_id: str | None
    rate_amount: int
    currency: str
    label_pdf: bytes = field(repr=False)
    label_format: str

    def __post_init__(self) -> None:
        if not self.label_pdf.startswith(b"%PDF-"):
            raise ValueError("label_pdf must be a PDF document")


@dataclass(frozen=True, slots=True)
class TrackingEvent:
    """One scan or status change reported by the carrier."""

    occurred_at: datetime
    status: TrackingStatus
    status_detail: str | None = None
    message: str = ""
    location: str | None = None


@dataclass(frozen=True, slots=True)
class TrackingUpdate:
    """The state of a parcel as of `occurred_at` (the newest event, or the carrier's update
    time when it has no events). `events` are oldest first."""

    tracking_code: str
    status: TrackingStatus
    status_detail: str | None
    occurred_at: datetime
    events: tuple[TrackingEvent, ...] = ()
    est_delivery: datetime | None = None


class CarrierError(Exception):
    """Base of carrier failures; `retryable` tells a job whether trying again can help."""

    retryable: bool = False

    def __init__(self, message: str, *, retryable: bool | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        if retryable is not None:
            self.retryable = retryable


class AddressInvalid(CarrierError):
    """The carrier rejected an address; the shopper or merchant must fix it, not a retry."""

    retryable = False


class NoRates(CarrierError):
    """No rate could be bought for this parcel and these addresses."""

    retryable = False


class CarrierUnavailable(CarrierError):
    """Timeouts, connection failures, 5xx and rate limiting: worth retrying later."""

    retryable = True


class WebhookSignatureInvalid(CarrierError):
    """A webhook body whose signature is missing or wrong: reject it, never process it."""

    retryable = False


@runtime_checkable
class Carrier(Protocol):
    """What the domain needs from a carrier. Methods are synchronous; background jobs call
    them from a worker thread."""

    def create_shipment(self, req: LabelRequest) -> str:
        """Register the shipment for `req` with the carrier, buying nothing yet, and return
        its id. The caller records the id durably *before* calling `buy_label` with it, so a
        purchase interrupted by a crash can be resumed instead of repeated."""
        ...

    def buy_label(self, req: LabelRequest, shipment_id: str | None = None) -> Label:
        """Buy (or make) a label for `req`; raises a `CarrierError` subclass on failure.

        With `shipment_id` (from `create_shipment`, possibly by an earlier attempt that
        died) the carrier first looks that shipment up: if it was already bought, its label
        is returned without buying again; otherwise that same shipment is bought. Without
        it, a shipment is created and bought in one go.
        """
        ...

    def void_label(self, shipment_id: str) -> bool:
        """Ask for the label to be voided/refunded; True when the carrier accepted."""
        ...

    def track(self, tracking_code: str, tracker_id: str | None = None) -> TrackingUpdate:
        """Current tracking state of a parcel."""
        ...

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> TrackingUpdate | None:
        """Verify and parse a webhook; None for events we do not act on.

        Raises `WebhookSignatureInvalid` when the signature does not verify.
        """
        ...
