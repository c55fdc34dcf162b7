"""Builds the integrations the settings ask for: EasyPost or the sandbox carrier, and so on.

The domain only ever sees the protocols (``Carrier``); which product sits behind them is
decided here, once, from configuration.
"""

from __future__ import annotations

from datetime import timedelta

from portal.carriers.base import Carrier
from portal.carriers.easypost_carrier import EasyPostCarrier
from portal.carriers.sandbox import SandboxCarrier
from portal.payments import Payments
from portal.payments.manual import ManualPayments
from portal.settings import Settings


def make_carrier(settings: Settings) -> Carrier:
    if settings.easypost_api_key:
        return EasyPostCarrier(
            settings.easypost_api_key,
            settings.easypost_webhook_secret,
            api_base=settings.easypost_api_base,
        )
    return SandboxCarrier(
        pace=timedelta(minutes=settings.sandbox_pace_minutes),
        webhook_secret=settings.easypost_webhook_secret,
    )


def carrier_name(settings: Settings) -> str:
    return "easypost" if settings.easypost_api_key else "sandbox"


def make_payments(settings: Settings) -> Payments:
    """Stripe when a key is set; otherwise manual payments (finance settles by hand)."""
    if settings.stripe_api_key:
        # The Stripe SDK is imported only by a portal that pays through Stripe.
        from portal.payments.stripe_payments import StripePayments

        return StripePayments(
            settings.stripe_api_key,
            settings.stripe_webhook_secret,
            api_base=settings.stripe_api_base,
        )
    return ManualPayments()
