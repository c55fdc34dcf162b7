"""Payments behind a small protocol: the domain sees our dataclasses, never an SDK object.

Two products: ``StripePayments`` (the official SDK) and ``ManualPayments`` (the embedded
default: finance pays outside the portal and records the reference).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

ProviderStatus = Literal["succeeded", "pending", "failed"]


class PaymentsError(Exception):
    """A provider call failed; ``retryable`` says whether trying again may help."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class WebhookInvalid(PaymentsError):
    """The webhook's signature or body is not acceptable."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


@dataclass(frozen=True)
class RefundRequest:
    refund_id: int
    amount: int
    currency: str
    payment_reference: str | None
    idempotency_key: str
    retry: bool = False
    """True when an earlier attempt may have reached the provider (look before paying)."""


@dataclass(frozen=True)
class ProviderRefund:
    """A refund as the provider reports it (API response, webhook or list)."""

    reference: str
    status: ProviderStatus
    amount: int
    currency: str
    refund_id: int | None = None
    failure_reason: str | None = None


@dataclass(frozen=True)
class WebhookEvent:
    event_id: str
    event_type: str
    refunds: list[ProviderRefund] = field(default_factory=list)


class Payments(Protocol):
    name: str
    automatic: bool
    """False for manual payments: a person settles each refund and records its reference."""

    async def refund(self, request: RefundRequest) -> ProviderRefund | None:
        """Pay ``request`` back; None when a person must settle it outside."""

    async def list_refunds(self) -> list[ProviderRefund]:
        """Every refund the provider knows (for reconciliation)."""

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        """Verify and read a webhook; raises ``WebhookInvalid``."""
