"""Every job the outbox can run, by name. Jobs are idempotent: safe to run twice."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

JobFunction = Callable[..., Awaitable[Any]]
JOBS: dict[str, JobFunction] = {}


def job(name: str) -> Callable[[JobFunction], JobFunction]:
    """Register an outbox job: ``async def fn(ctx, *, message_id, **payload)``."""

    def register(fn: JobFunction) -> JobFunction:
        if name in JOBS and JOBS[name] is not fn:
            raise ValueError(f"job {name!r} is registered twice")
        JOBS[name] = fn
        return fn

    return register


@job("noop")
async def noop(ctx: Any, *, message_id: int, **_: Any) -> None:
    """Does nothing; used to measure the outbox itself."""


def _load_job_modules() -> None:
    """Import every module that registers jobs (kept here so the catalogue is complete)."""
    from portal import webhooks  # noqa: F401
    from portal.jobs import tasks  # noqa: F401
    from portal.money import jobs as money_jobs  # noqa: F401


_load_job_modules()
