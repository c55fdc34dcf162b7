"""arq ``WorkerSettings`` for ``portal worker``.

Each worker process runs, besides arq's own loop, a dispatcher that moves due outbox
rows into arq (several replicas dispatch side by side safely), a sweep for rows whose job
was lost, and the scheduler tick as an arq cron job (arq makes it run once per minute
across all workers).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
from datetime import timedelta
from typing import Any

from arq.connections import ArqRedis, RedisSettings
from arq.cron import cron
from arq.worker import get_kwargs

from portal.db import Database
from portal.jobs.context import build_context
from portal.jobs.dispatcher import arq_job_id, dispatch_due, sweep
from portal.jobs.outbox import run_message
from portal.models.outbox import OutboxMessage
from portal.settings import Settings, load_settings

logger = logging.getLogger("portal.worker")


def load_job_modules(settings: Settings) -> None:
    """Import extra modules that register jobs (``PORTAL_JOB_MODULES``, comma-separated)."""
    for name in filter(None, (m.strip() for m in settings.job_modules.split(","))):
        importlib.import_module(name)


async def run_outbox(ctx: dict[str, Any], message_id: int) -> str:
    return await run_message(ctx["portal"], message_id)


async def schedule_tick(ctx: dict[str, Any]) -> dict[str, int]:
    from portal.jobs.schedule import tick

    return await tick(ctx["portal"])


async def _dispatch_forever(ctx: dict[str, Any]) -> None:
    portal_ctx = ctx["portal"]
    redis: ArqRedis = ctx["redis"]
    poll = portal_ctx.settings.dispatch_poll_ms / 1000
    stale_after = timedelta(seconds=portal_ctx.settings.job_timeout_seconds * 2 + 60)
    loop = asyncio.get_running_loop()
    last_sweep = 0.0

    async def submit(message: OutboxMessage) -> None:
        await redis.enqueue_job("run_outbox", message.id, _job_id=arq_job_id(message))

    while True:
        try:
            if loop.time() - last_sweep > 60:
                last_sweep = loop.time()
                await sweep(portal_ctx.db, portal_ctx.now(), stale_after)
            handed = await dispatch_due(portal_ctx.db, submit, portal_ctx.now())
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # Redis or the database away: try again shortly
            logger.warning("dispatch failed", extra={"fields": {"error": repr(exc)}})
            handed = 0
        if handed == 0:
            await asyncio.sleep(poll)


async def startup(ctx: dict[str, Any]) -> None:
    settings = load_settings()
    load_job_modules(settings)
    db = Database(settings.resolved_database_url)
    await db.ensure_migrated()
    ctx["portal"] = build_context(settings, db)
    ctx["dispatcher"] = asyncio.create_task(_dispatch_forever(ctx), name="portal-dispatcher")


async def shutdown(ctx: dict[str, Any]) -> None:
    task = ctx.get("dispatcher")
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    if "portal" in ctx:
        await ctx["portal"].db.dispose()


def redis_settings(settings: Settings | None = None) -> RedisSettings:
    url = (settings or load_settings()).redis_url
    if not url:
        raise SystemExit(
            "portal worker needs PORTAL_REDIS_URL (without it, jobs run inside `portal serve`)."
        )
    return RedisSettings.from_dsn(url)


class WorkerSettings:
    """The arq worker's settings; ``portal worker`` adds Redis and timeouts from the
    portal's own settings (see ``worker_settings``)."""

    functions = [run_outbox]
    cron_jobs = [cron(schedule_tick, second=0, run_at_startup=True, unique=True)]
    on_startup = startup
    on_shutdown = shutdown
    job_timeout = 300
    max_tries = 5
    keep_result = 3600
    health_check_interval = 30
    poll_delay = 0.05  # arq's default 0.5 s would dominate the commit-to-start delay
    max_jobs = 50


def worker_settings(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``arq.Worker``."""
    return {
        **get_kwargs(WorkerSettings),
        "redis_settings": redis_settings(settings),
        "job_timeout": settings.job_timeout_seconds,
    }
