"""Scheduled work, driven by the active policy's timelines; runs once a minute.

Each scan changes state and queues its side effects in one transaction per item, with
outbox keys that name the effect, so a tick that runs twice (two workers, a retry)
changes nothing the second time.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

logger = logging.getLogger("portal.schedule")

Scan = Callable[[Any], Awaitable[int]]
SCANS: list[tuple[str, Scan]] = []


def scan(name: str) -> Callable[[Scan], Scan]:
    def register(fn: Scan) -> Scan:
        SCANS.append((name, fn))
        return fn

    return register


async def tick(ctx: Any) -> dict[str, int]:
    """Run every scan; one failing scan does not stop the others."""
    results: dict[str, int] = {}
    for name, fn in SCANS:
        try:
            results[name] = await fn(ctx)
        except Exception:
            logger.exception("scheduled scan failed", extra={"fields": {"scan": name}})
            results[name] = -1
    return results
