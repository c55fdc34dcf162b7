"""arq ``WorkerSettings`` for ``portal worker``.

Each worker process runs, besides arq's own loop, a dispatcher that moves due outbox
rows into arq (several replicas dispatch side by side safely), a sweep for rows whose job
was lost, and the scheduler tick as an arq cron job (arq makes it run once per minute
across all workers). The jobs and scans it runs come from the context ``make_context``
builds at startup (``portal.composition.build_context``, passed in by ``portal worker``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable, Sequence
from datetime import timedelta
from functools import partial
from typing import Any

from arq.connections import ArqRedis, RedisSettings
from arq.cron import CronJob, cron
from arq.typing import StartupShutdown, WorkerCoroutine
from arq.worker import Function, async_check_health, get_kwargs
from redis.exceptions import RedisError

from portal.db import Database
from portal.jobs.dispatcher import arq_job_id, dispatch_due, sweep
from portal.jobs.outbox import run_message
from portal.jobs.registry import JobRuntime
from portal.jobs.schedule import tick
from portal.models.outbox import OutboxMessage
from portal.settings import Settings, load_settings

logger = logging.getLogger("portal.worker")

ContextFactory = Callable[[Settings, Database], JobRuntime]


async def run_outbox(ctx: dict[str, Any], message_id: int) -> str:
    return await run_message(ctx["portal"], message_id)


async def schedule_tick(ctx: dict[str, Any]) -> dict[str, int]:
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


async def startup(ctx: dict[str, Any], *, settings: Settings, make_context: ContextFactory) -> None:
    db = Database(settings.resolved_database_url)
    await db.ensure_migrated()
    ctx["portal"] = make_context(settings, db)
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

    functions: Sequence[WorkerCoroutine | Function] = [run_outbox]
    cron_jobs: Sequence[CronJob] | None = [
        cron(schedule_tick, second=0, run_at_startup=True, unique=True)
    ]
    on_startup: StartupShutdown | None = None  # ``worker_settings`` binds ``startup``
    on_shutdown: StartupShutdown | None = shutdown
    job_timeout = 300
    max_tries = 5
    keep_result = 3600
    health_check_interval = 30
    poll_delay = 0.05  # arq's default 0.5 s would dominate the commit-to-start delay
    max_jobs = 50


def worker_settings(settings: Settings, make_context: ContextFactory) -> dict[str, Any]:
    """Keyword arguments for ``arq.Worker``; ``make_context`` builds the jobs' context."""
    return {
        **get_kwargs(WorkerSettings),
        "on_startup": partial(startup, settings=settings, make_context=make_context),
        "redis_settings": redis_settings(settings),
        "job_timeout": settings.job_timeout_seconds,
    }


def check_worker(settings: Settings) -> int:
    """``portal worker --check``: 0 when a worker wrote its health check to Redis within
    the last ``health_check_interval`` seconds, 1 when none did or Redis does not answer.

    One connection attempt only, so the answer comes well within the health check's
    timeout (docker-compose allows 5 s)."""
    connection = dataclasses.replace(redis_settings(settings), conn_retries=0)
    try:
        return asyncio.run(async_check_health(connection, None, None))
    except (OSError, RedisError) as exc:
        logger.warning("worker health check failed", extra={"fields": {"error": repr(exc)}})
        return 1
