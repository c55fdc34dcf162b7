"""arq ``WorkerSettings`` for ``portal worker``.

The job catalogue grows with the outbox (see the jobs issue); today the worker connects,
checks the schema and runs a heartbeat so deployments can already run it.
"""

from __future__ import annotations

import logging
from typing import Any

from arq.connections import RedisSettings
from arq.cron import cron

from portal.db import Database
from portal.settings import load_settings

logger = logging.getLogger("portal.worker")


async def startup(ctx: dict[str, Any]) -> None:
    settings = load_settings()
    db = Database(settings.resolved_database_url)
    await db.ensure_migrated()
    ctx["settings"] = settings
    ctx["db"] = db


async def shutdown(ctx: dict[str, Any]) -> None:
    if "db" in ctx:
        await ctx["db"].dispose()


async def heartbeat(ctx: dict[str, Any]) -> str:
    """Proves the worker reaches the database; logged at debug level."""
    await ctx["db"].ping()
    logger.debug("worker heartbeat")
    return "ok"


def redis_settings() -> RedisSettings:
    url = load_settings().redis_url
    if not url:
        raise SystemExit(
            "portal worker needs PORTAL_REDIS_URL (without it jobs run inside `portal serve`)."
        )
    return RedisSettings.from_dsn(url)


class WorkerSettings:
    functions = [heartbeat]
    cron_jobs = [cron(heartbeat, minute=set(range(0, 60, 5)), run_at_startup=False)]
    on_startup = startup
    on_shutdown = shutdown
    job_timeout = 300
    max_tries = 5
    keep_result = 3600
