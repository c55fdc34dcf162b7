"""Carriers: the `Carrier` protocol, our boundary types, and the EasyPost and sandbox
implementations.

The implementations are imported lazily so that importing the protocol (as the domain does)
never pulls in the EasyPost SDK or WeasyPrint.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from portal.carriers.base import (
    Address,
    AddressInvalid,
    Carrier,
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
)

if TYPE_CHECKING:
    from portal.carriers.easypost_carrier import EasyPostCarrier
    from portal.carriers.sandbox import SandboxCarrier

__all__ = [
    "Address",
    "AddressInvalid",
    "Carrier",
    "CarrierError",
    "CarrierUnavailable",
    "EasyPostCarrier",
    "Label",
    "LabelRequest",
    "NoRates",
    "Parcel",
    "SandboxCarrier",
    "TrackingEvent",
    "TrackingStatus",
    "TrackingUpdate",
    "WebhookSignatureInvalid",
]


def __getattr__(name: str) -> Any:
    # The carriers load on first use, so code that needs only the types does not import
    # the EasyPost SDK (or the sandbox's WeasyPrint rendering).
    if name == "EasyPostCarrier":
        from portal.carriers.easypost_carrier import EasyPostCarrier

        return EasyPostCarrier
    if name == "SandboxCarrier":
        from portal.carriers.sandbox import SandboxCarrier

        return SandboxCarrier
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
