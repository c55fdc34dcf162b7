"""Manual payments, the embedded default: the portal records, finance pays outside."""

from __future__ import annotations

from collections.abc import Mapping

from portal.payments import ProviderRefund, RefundRequest, WebhookEvent, WebhookInvalid


class ManualPayments:
    """Approved refunds wait in ``processing`` until finance marks them paid with a reference."""

    name = "manual"
    automatic = False

    async def refund(self, request: RefundRequest) -> ProviderRefund | None:
        return None

    async def list_refunds(self) -> list[ProviderRefund]:
        return []

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        raise WebhookInvalid("Stripe is not configured (no STRIPE_API_KEY).")
