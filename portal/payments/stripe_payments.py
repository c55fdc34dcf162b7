"""Refunds through the official Stripe SDK.

Every refund is created against the order's PaymentIntent (``pi_``) or charge (``ch_``)
with an explicit amount, our refund's id in its metadata and our refund's idempotency key,
identical on every retry. A retry first looks for a refund carrying our id (an earlier
attempt may have reached Stripe and lost its response), so it pays once even where a
Stripe imitation ignores idempotency keys. The SDK's own retries are off: the outbox
retries, with the same key.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any, Literal

import stripe
from stripe.params import RefundCreateParams, RefundListParams

from portal.payments import (
    PaymentsError,
    ProviderRefund,
    ProviderStatus,
    RefundRequest,
    WebhookEvent,
    WebhookInvalid,
)

METADATA_KEY = "portal_refund_id"
# The SDK refuses signatures older than its tolerance but not ones dated in the future; a
# sender's clock may run a little fast, never minutes.
FUTURE_TOLERANCE_SECONDS = 60
_STATUSES: dict[str, ProviderStatus] = {
    "succeeded": "succeeded",
    "pending": "pending",
    "requires_action": "pending",
    "failed": "failed",
    "canceled": "failed",
}
_RETRYABLE = (stripe.APIConnectionError, stripe.RateLimitError)


def to_provider_refund(obj: Mapping[str, Any]) -> ProviderRefund:
    """Our dataclass from a Stripe refund object (SDK object or webhook JSON)."""
    metadata = obj.get("metadata") or {}
    raw_id = metadata.get(METADATA_KEY)
    return ProviderRefund(
        reference=str(obj["id"]),
        status=_STATUSES.get(str(obj.get("status")), "pending"),
        amount=int(obj.get("amount") or 0),
        currency=str(obj.get("currency") or "").upper(),
        refund_id=int(raw_id) if raw_id and str(raw_id).isdigit() else None,
        failure_reason=obj.get("failure_reason"),
    )


def map_error(exc: stripe.StripeError) -> PaymentsError:
    """Network trouble, rate limits and Stripe's own 5xx may pass; the rest will not."""
    status = getattr(exc, "http_status", None) or 0
    retryable = isinstance(exc, _RETRYABLE) or (isinstance(exc, stripe.APIError) and status >= 500)
    message = getattr(exc, "user_message", None) or str(exc) or type(exc).__name__
    return PaymentsError(f"Stripe: {message}", retryable=retryable)


class StripePayments:
    name = "stripe"
    automatic = True

    def __init__(
        self,
        api_key: str,
        webhook_secret: str | None = None,
        *,
        api_base: str | None = None,
        http_client: Any = None,
    ) -> None:
        options: dict[str, Any] = {"max_network_retries": 0}
        if api_base:
            options["base_addresses"] = {"api": api_base.rstrip("/")}
        options["http_client"] = http_client or stripe.RequestsClient(timeout=30)
        self.client = stripe.StripeClient(api_key, **options)
        self.webhook_secret = webhook_secret

    @staticmethod
    def _target(payment_reference: str | None) -> tuple[Literal["payment_intent", "charge"], str]:
        """Which Stripe parameter names the payment to refund, and its id."""
        ref = payment_reference or ""
        if ref.startswith("pi_"):
            return "payment_intent", ref
        if ref.startswith("ch_"):
            return "charge", ref
        raise PaymentsError(
            f"The order's payment reference {ref!r} is not a Stripe PaymentIntent or charge.",
            retryable=False,
        )

    def _refund_sync(self, request: RefundRequest) -> ProviderRefund:
        key, ref = self._target(request.payment_reference)
        try:
            if request.retry:
                listing: RefundListParams = {"limit": 100}
                listing[key] = ref
                listed = self.client.v1.refunds.list(params=listing)
                for obj in listed.auto_paging_iter():
                    found = to_provider_refund(obj.to_dict())
                    if found.refund_id == request.refund_id:
                        return found
            params: RefundCreateParams = {
                "amount": request.amount,
                "metadata": {METADATA_KEY: str(request.refund_id)},
            }
            params[key] = ref
            created = self.client.v1.refunds.create(
                params=params, options={"idempotency_key": request.idempotency_key}
            )
        except stripe.StripeError as exc:
            raise map_error(exc) from exc
        return to_provider_refund(created.to_dict())

    async def refund(self, request: RefundRequest) -> ProviderRefund | None:
        return await asyncio.to_thread(self._refund_sync, request)

    def _list_sync(self) -> list[ProviderRefund]:
        try:
            page = self.client.v1.refunds.list(params={"limit": 100})
            return [to_provider_refund(obj.to_dict()) for obj in page.auto_paging_iter()]
        except stripe.StripeError as exc:
            raise map_error(exc) from exc

    async def list_refunds(self) -> list[ProviderRefund]:
        return await asyncio.to_thread(self._list_sync)

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        """Verify with the SDK, then keep only what we use: the refunds the event carries."""
        if not self.webhook_secret:
            raise WebhookInvalid("No Stripe webhook secret is configured.")
        signature = headers.get("stripe-signature") or headers.get("Stripe-Signature") or ""
        latest = time.time() + FUTURE_TOLERANCE_SECONDS
        stamps = [
            value.strip()
            for name, _, value in (p.strip().partition("=") for p in signature.split(","))
            if name == "t"
        ]  # malformed ones are left to the SDK, which refuses them
        if any(s.isdigit() and (len(s) > 12 or int(s) > latest) for s in stamps):
            raise WebhookInvalid("The Stripe-Signature timestamp is in the future.")
        try:
            event = stripe.Webhook.construct_event(body, signature, self.webhook_secret)
        except stripe.SignatureVerificationError as exc:
            raise WebhookInvalid("The Stripe-Signature header does not match.") from exc
        except ValueError as exc:
            raise WebhookInvalid(f"The webhook body is not JSON: {exc}") from exc
        data = event.to_dict()
        obj = (data.get("data") or {}).get("object") or {}
        refunds: list[ProviderRefund] = []
        if obj.get("object") == "refund":
            refunds.append(to_provider_refund(obj))
        elif obj.get("object") == "charge":
            for item in (obj.get("refunds") or {}).get("data") or []:
                refunds.append(to_provider_refund(item))
        return WebhookEvent(
            event_id=str(data["id"]), event_type=str(data.get("type")), refunds=refunds
        )
