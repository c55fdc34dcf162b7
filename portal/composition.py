"""Where the portal is put together: the job registry, the job context and the hooks.

Every domain package lists its own jobs (``portal/returns/jobs.py``, ``money/jobs.py``,
``notify/jobs.py``, ``webhooks.py``) by name (``portal.jobs.names``); nothing below this
module imports them all. ``build_context`` is what the worker (``portal worker``, at arq
startup) and the in-process runner of ``portal serve`` are given: it assembles the
registry, the scheduled scans and the integrations, and registers the settled-refund hook
(money tells returns that a refund was decided without importing returns).
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from portal import webhooks
from portal.carriers.base import Carrier
from portal.db import Database
from portal.integrations import make_carrier, make_payments
from portal.jobs import registry
from portal.jobs.registry import JobFunction, Jobs, Scan, build_registry
from portal.merchant.store_settings import EffectiveSettings, load_effective, logo_data_uri
from portal.models.base import utcnow
from portal.money import jobs as money_jobs
from portal.money.hooks import on_refund_settled
from portal.notify import jobs as notify_jobs
from portal.notify.mailer import MailboxMailer, Mailer, SmtpMailer
from portal.payments import Payments
from portal.returns import jobs as returns_jobs
from portal.returns.after_refund import SettleReturn
from portal.returns.links import LinkSigner
from portal.settings import Settings

PACKAGE_JOBS: tuple[Jobs, ...] = (
    registry.JOBS,
    notify_jobs.JOBS,
    returns_jobs.JOBS,
    money_jobs.JOBS,
    webhooks.JOBS,
)
"""Every package's jobs; ``tests/jobs/test_registry.py`` checks each name has one."""


def extra_jobs(settings: Settings) -> list[Jobs]:
    """The ``JOBS`` of each module named in ``PORTAL_JOB_MODULES`` (comma-separated)."""
    names = filter(None, (m.strip() for m in settings.job_modules.split(",")))
    return [importlib.import_module(name).JOBS for name in names]


def job_registry(settings: Settings) -> dict[str, JobFunction]:
    """Every job the outbox can run, by name."""
    return build_registry([*PACKAGE_JOBS, *extra_jobs(settings)])


def install_hooks(settings: Settings) -> None:
    """Register the domain hooks (again: registering replaces, so this is idempotent)."""
    on_refund_settled("returns", SettleReturn(LinkSigner(settings.ensure_secret_key())))


@dataclass
class JobContext:
    """What every job receives: the database, settings, a clock, the integrations, the
    registry it runs from and the merchant's settings as they are when the job runs."""

    db: Database
    settings: Settings
    mailer: Mailer
    carrier: Carrier
    payments: Payments
    jobs: Mapping[str, JobFunction]
    scans: Mapping[str, Scan]
    store_settings: Callable[[AsyncSession], Awaitable[EffectiveSettings]]
    store_logo: Callable[[AsyncSession], Awaitable[str | None]]
    now: Callable[[], datetime] = utcnow
    extras: dict[str, Any] = field(default_factory=dict)


def build_context(settings: Settings, db: Database, **overrides: Any) -> JobContext:
    """The job context for ``portal worker`` and ``portal serve``'s in-process runner
    (``mailer``, ``carrier``, ``payments``, ``now`` may be given, for tests)."""
    install_hooks(settings)
    mailer: Mailer = overrides.pop("mailer", None) or (
        SmtpMailer(db, settings.smtp_url, settings.mail_from)
        if settings.smtp_url
        else MailboxMailer(db)
    )
    return JobContext(
        db=db,
        settings=settings,
        mailer=mailer,
        carrier=overrides.pop("carrier", None) or make_carrier(settings),
        payments=overrides.pop("payments", None) or make_payments(settings),
        jobs=job_registry(settings),
        scans=dict(returns_jobs.SCANS),
        store_settings=partial(load_effective, settings=settings),
        store_logo=partial(logo_data_uri, media_dir=settings.media_dir),
        **overrides,
    )
