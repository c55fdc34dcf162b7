"""Placeholder jobs for side effects whose real implementations live elsewhere.

Returns enqueue ``issue_label``, ``render_slip`` and ``void_label``; the carriers and
documents work registers the real jobs. Until then these no-ops keep the outbox valid.
Each is registered only when nothing else has taken the name, so the real job wins as
long as its module is imported by ``portal.jobs.registry`` (which this module imports first).
"""

from __future__ import annotations

from typing import Any

from portal.jobs.registry import JOBS, job

PLACEHOLDER_JOBS = ("issue_label", "render_slip", "void_label")


def _placeholder(name: str) -> None:
    async def run(ctx: Any, *, message_id: int, **_: Any) -> None:
        """No-op until the real job is registered."""

    run.__name__ = f"placeholder_{name}"
    job(name)(run)


for _name in PLACEHOLDER_JOBS:
    if _name not in JOBS:
        _placeholder(_name)
