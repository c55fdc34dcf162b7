"""What every job receives: the database, settings, a clock and the integrations."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from portal.carriers.base import Carrier
from portal.db import Database
from portal.integrations import make_carrier, make_payments
from portal.models.base import utcnow
from portal.notify.mailer import MailboxMailer, Mailer, SmtpMailer
from portal.payments import Payments
from portal.settings import Settings


@dataclass
class JobContext:
    db: Database
    settings: Settings
    mailer: Mailer
    carrier: Carrier
    payments: Payments = field(default=None)  # type: ignore[assignment]  # set by build_context
    now: Callable[[], datetime] = utcnow
    extras: dict[str, Any] = field(default_factory=dict)


def build_context(settings: Settings, db: Database, **overrides: Any) -> JobContext:
    mailer: Mailer = (
        SmtpMailer(db, settings.smtp_url, settings.mail_from)
        if settings.smtp_url
        else MailboxMailer(db)
    )
    carrier = overrides.pop("carrier", None) or make_carrier(settings)
    return JobContext(
        db=db,
        settings=settings,
        mailer=overrides.pop("mailer", mailer),
        carrier=carrier,
        payments=overrides.pop("payments", None) or make_payments(settings),
        **overrides,
    )
