"""The name of every outbox job: what ``enqueue`` is asked to run, decided here once.

This module imports nothing of the portal, so every package can name a job without
importing the code that runs it. Each domain package maps its names to functions in its
own ``jobs`` module; the worker and the in-process runner assemble them
(``portal.composition.job_registry``).
"""

from __future__ import annotations

from enum import StrEnum


class Job(StrEnum):
    NOOP = "noop"
    SEND_EMAIL = "send_email"
    ISSUE_LABEL = "issue_label"
    RENDER_SLIP = "render_slip"
    VOID_LABEL = "void_label"
    REFRESH_TRACKING = "refresh_tracking"
    APPLY_TRACKING_EVENT = "apply_tracking_event"
    ISSUE_REFUND = "issue_refund"
    APPLY_STRIPE_EVENT = "apply_stripe_event"
    DELIVER_WEBHOOK = "deliver_webhook"


_OWN = frozenset(Job)
_EXTRA: set[str] = set()


def extra_job(name: str) -> str:
    """Declare a job that is not the portal's own (``PORTAL_JOB_MODULES``, tests)."""
    if name in _OWN:
        raise ValueError(f"job {name!r} is one of the portal's own")
    _EXTRA.add(name)
    return name


def is_known(name: str) -> bool:
    return name in _OWN or name in _EXTRA
