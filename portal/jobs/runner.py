"""The in-process runner of the embedded default: the same jobs, no Redis.

A background task in the web process polls the outbox, runs due jobs as asyncio tasks
(a few at a time) and ticks the scheduler once a minute. It runs jobs from the context it
is given (``portal.composition.build_context`` assembles the registry and the scans).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from portal.jobs.dispatcher import dispatch_due, sweep
from portal.jobs.outbox import run_message
from portal.jobs.registry import JobRuntime
from portal.jobs.schedule import tick
from portal.models.base import id_of
from portal.models.outbox import OutboxMessage

logger = logging.getLogger("portal.runner")


class InProcessRunner:
    def __init__(
        self,
        ctx: JobRuntime,
        *,
        poll_seconds: float = 0.25,
        concurrency: int = 4,
        schedule_seconds: float = 60.0,
        stale_after: timedelta = timedelta(minutes=10),
    ) -> None:
        self.ctx = ctx
        self.poll_seconds = poll_seconds
        self.schedule_seconds = schedule_seconds
        self.stale_after = stale_after
        self._slots = asyncio.Semaphore(concurrency)
        self._running: set[asyncio.Task[str]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    async def _submit(self, message: OutboxMessage) -> None:
        # Never wait here: the dispatcher holds the row locks until it returns.
        task = asyncio.create_task(self._run(id_of(message)))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _run(self, message_id: int) -> str:
        async with self._slots:
            try:
                return await run_message(self.ctx, message_id)
            finally:
                self._wake.set()

    def wake(self) -> None:
        """Dispatch now instead of at the next poll (after a commit that queued work)."""
        self._wake.set()

    async def run_once(self) -> int:
        return await dispatch_due(self.ctx.db, self._submit, self.ctx.now())

    async def drain(self, timeout: float = 30.0) -> None:
        """Run until nothing is due and nothing is running (tests and the demo seed)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            handed = await self.run_once()
            if self._running:
                await asyncio.wait(set(self._running), timeout=1)
            elif handed == 0:
                return
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("the outbox did not drain")

    async def _loop(self) -> None:
        await sweep(self.ctx.db, self.ctx.now(), timedelta(0))  # nothing else runs our jobs
        last_tick = 0.0
        loop = asyncio.get_running_loop()
        while True:
            try:
                if loop.time() - last_tick >= self.schedule_seconds:
                    last_tick = loop.time()
                    await tick(self.ctx)
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("in-process runner iteration failed")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)

    def start(self) -> None:
        self._loop_task = asyncio.create_task(self._loop(), name="portal-outbox-runner")

    async def stop(self) -> None:
        if self._loop_task:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        if self._running:
            await asyncio.wait(set(self._running), timeout=10)
