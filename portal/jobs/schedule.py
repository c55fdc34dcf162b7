"""The scheduler: every scan the portal runs once a minute, driven by the active policy's
timelines.

The scans belong to the packages whose state they change (``portal.returns.jobs.SCANS``)
and reach the scheduler through the job context (``ctx.scans``). Each scan changes state
and queues its side effects in one transaction per item, with outbox keys that name the
effect, so a tick that runs twice (two workers, a retry) changes nothing the second time.
"""

from __future__ import annotations

import logging

from portal.jobs.registry import JobRuntime

logger = logging.getLogger("portal.schedule")


async def tick(ctx: JobRuntime) -> dict[str, int]:
    """Run every scan; one failing scan does not stop the others."""
    results: dict[str, int] = {}
    for name, fn in ctx.scans.items():
        try:
            results[name] = await fn(ctx)
        except Exception:
            logger.exception("scheduled scan failed", extra={"fields": {"scan": name}})
            results[name] = -1
    return results
