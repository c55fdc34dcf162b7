"""What a job is, and the registry the worker and the in-process runner run jobs from.

Jobs are idempotent: safe to run twice. Each domain package lists its own jobs as a
mapping ``{Job name: function}`` in its ``jobs`` module; ``build_registry`` joins those
mappings and refuses a name claimed twice. Nothing here imports a domain package: the
registry is assembled where the worker and the runner are put together
(``portal.composition``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol

from portal.db import Database
from portal.jobs.names import Job

JobFunction = Callable[..., Awaitable[Any]]
"""``async def fn(ctx, *, message_id, **payload)``."""
Jobs = Mapping[str, JobFunction]
Scan = Callable[[Any], Awaitable[int]]
"""A scheduled scan: ``async def scan(ctx) -> int`` (how many things it did)."""


class JobRuntime(Protocol):
    """What the outbox and the scheduler need from the context every job receives."""

    @property
    def db(self) -> Database: ...
    @property
    def jobs(self) -> Jobs: ...
    @property
    def scans(self) -> Mapping[str, Scan]: ...
    @property
    def now(self) -> Callable[[], datetime]: ...


def build_registry(tables: Iterable[Jobs]) -> dict[str, JobFunction]:
    """Join the packages' job tables; a name may have one function only."""
    registry: dict[str, JobFunction] = {}
    for table in tables:
        for name, fn in table.items():
            if name in registry and registry[name] is not fn:
                raise ValueError(f"job {name!r} is registered twice")
            registry[str(name)] = fn
    return registry


async def noop(ctx: Any, *, message_id: int, **_: Any) -> None:
    """Does nothing; used to measure the outbox itself."""


JOBS: Jobs = {Job.NOOP: noop}
"""The outbox's own jobs."""
