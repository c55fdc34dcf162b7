"""Jobs that exist only for the outbox's own tests (PORTAL_JOB_MODULES names this module)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from portal.jobs.names import extra_job
from portal.jobs.registry import Jobs
from portal.notify.mailer import Email


async def _slow_email(ctx: Any, *, message_id: int, started_flag: str, to: str) -> None:
    """The first run announces itself and then hangs (to be killed); later runs send."""
    flag = Path(started_flag)
    if not flag.exists():
        flag.write_text("started")
        await asyncio.sleep(120)
    await ctx.mailer.send(
        Email(to=to, subject="slow", text="slow", html="<p>slow</p>"), key=f"outbox:{message_id}"
    )


async def _always_fails(ctx: Any, *, message_id: int, **_: Any) -> None:
    raise RuntimeError("the carrier said no (test)")


JOBS: Jobs = {
    extra_job("test_slow_email"): _slow_email,
    extra_job("test_always_fails"): _always_fails,
}
