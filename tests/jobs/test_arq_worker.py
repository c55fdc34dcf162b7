"""The real arq worker on a real (private) Redis: outages, duplicates and a killed worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlmodel import select

import tests.support.jobs_for_tests  # noqa: F401
from portal.jobs.outbox import enqueue
from portal.models import MailMessage, OutboxMessage
from tests.support.live_server import free_port
from tests.support.redis_server import private_redis
from tests.support.services import unavailable

pytestmark = pytest.mark.redis
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def redis_server():
    import shutil

    if shutil.which("redis-server") is None:
        unavailable("redis-server is not installed")
    with private_redis() as server:
        yield server


def start_worker(settings, redis_url: str, **env: str) -> subprocess.Popen[bytes]:
    environment = {
        **os.environ,
        "PORTAL_DATABASE_URL": settings.database_url,
        "PORTAL_REDIS_URL": redis_url,
        "PORTAL_SECRET_KEY": settings.secret_key,
        "PORTAL_DATA_DIR": str(settings.data_dir),
        "PORTAL_JOB_MODULES": "tests.support.jobs_for_tests",
        "PORTAL_DISPATCH_POLL_MS": "50",
        "PORTAL_LOG_LEVEL": "WARNING",
        **env,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "portal.cli", "worker"],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def stop(process: subprocess.Popen[bytes]) -> str:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
    return (process.stdout.read() if process.stdout else b"").decode(errors="replace")


def worker_check(settings, redis_url: str) -> subprocess.CompletedProcess[str]:
    """``portal worker --check`` exactly as docker-compose's health check runs it."""
    environment = {
        **os.environ,
        "PORTAL_DATABASE_URL": settings.database_url,
        "PORTAL_REDIS_URL": redis_url,
        "PORTAL_SECRET_KEY": settings.secret_key,
        "PORTAL_DATA_DIR": str(settings.data_dir),
    }
    return subprocess.run(
        [str(Path(sys.executable).with_name("portal")), "worker", "--check"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=30,
    )


async def queue_emails(db, count: int, prefix: str) -> list[int]:
    ids = []
    async with db.session() as session:
        for i in range(count):
            message = await enqueue(
                session,
                "send_email",
                {"template": "return_worker_test", "to": f"{prefix}{i}@example.com", "context": {}},
                key=f"{prefix}:{i}",
            )
            ids.append(message.id)
        await session.commit()
    return ids


async def wait_until_done(db, ids: list[int], timeout: float, worker=None) -> list[OutboxMessage]:
    import asyncio

    deadline = time.monotonic() + timeout
    while True:
        async with db.session() as session:
            rows = list(
                (await session.exec(select(OutboxMessage).where(OutboxMessage.id.in_(ids)))).all()
            )
        if all(r.status == "done" for r in rows):
            return rows
        if worker is not None and worker.poll() is not None:
            raise AssertionError("worker exited:\n" + stop(worker))
        if time.monotonic() > deadline:
            raise AssertionError(
                f"not done in time: {[(r.id, r.status, r.last_error) for r in rows]}"
            )
        await asyncio.sleep(0.1)


async def sent_mail(db) -> list[str]:
    async with db.session() as session:
        return sorted(m.to for m in (await session.exec(select(MailMessage))).all())


@pytest.fixture(autouse=True)
def worker_email_template():
    """A real template file the worker subprocess can render."""
    path = ROOT / "templates" / "email" / "return_worker_test.html"
    path.write_text(
        '{% extends "email/base.html" %}{% block subject %}Test{% endblock %}'
        "{% block text %}Test{% endblock %}{% block content %}Test{% endblock %}"
    )
    yield
    path.unlink(missing_ok=True)


async def test_worker_runs_queued_effects_once_across_a_redis_outage(
    db, settings, redis_server
) -> None:
    before = await queue_emails(db, 5, "before")
    redis_server.stop()  # Redis goes away while the shop keeps committing changes
    during = await queue_emails(db, 5, "during")
    worker = start_worker(settings, redis_server.url)
    time.sleep(1.0)  # the worker cannot reach Redis: nothing may be lost or doubled
    redis_server.start()
    if (
        worker.poll() is not None
    ):  # arq gives up on start when Redis is away; a supervisor restarts it
        stop(worker)
        worker = start_worker(settings, redis_server.url)
    try:
        await wait_until_done(db, before + during, timeout=30, worker=worker)
    finally:
        stop(worker)
    expected = sorted(
        [f"before{i}@example.com" for i in range(5)] + [f"during{i}@example.com" for i in range(5)]
    )
    assert await sent_mail(db) == expected


async def test_two_workers_run_each_effect_once(db, settings, redis_server) -> None:
    ids = await queue_emails(db, 40, "pair")
    workers = [start_worker(settings, redis_server.url) for _ in range(2)]
    try:
        rows = await wait_until_done(db, ids, timeout=40)
    finally:
        for w in workers:
            stop(w)
    assert await sent_mail(db) == sorted(f"pair{i}@example.com" for i in range(40))
    assert {r.attempts for r in rows} == {1}


async def test_killed_worker_job_completes_later_exactly_once(
    db, settings, redis_server, tmp_path
) -> None:
    flag = tmp_path / "started"
    async with db.session() as session:
        message = await enqueue(
            session,
            "test_slow_email",
            {"started_flag": str(flag), "to": "slow@example.com"},
            key="slow:1",
        )
        await session.commit()
    env = {"PORTAL_JOB_TIMEOUT_SECONDS": "2"}  # arq re-runs a lost job after timeout + 10 s
    first = start_worker(settings, redis_server.url, **env)
    deadline = time.monotonic() + 20
    while not flag.exists():
        assert time.monotonic() < deadline, stop(first)
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)  # mid-job, no chance to clean up
    first.wait(timeout=5)
    second = start_worker(settings, redis_server.url, **env)
    try:
        rows = await wait_until_done(db, [message.id], timeout=40, worker=second)
    finally:
        stop(second)
    assert await sent_mail(db) == ["slow@example.com"]
    assert rows[0].status == "done"


async def test_worker_check_passes_against_a_running_worker_and_fails_without_redis(
    settings, redis_server
) -> None:
    assert worker_check(settings, redis_server.url).returncode == 1  # no worker yet
    worker = start_worker(settings, redis_server.url)
    try:
        deadline = time.monotonic() + 30
        while (result := worker_check(settings, redis_server.url)).returncode != 0:
            assert worker.poll() is None, stop(worker)
            assert time.monotonic() < deadline, result.stderr
        assert "Traceback" not in result.stderr
    finally:
        stop(worker)
    redis_server.stop()
    down = worker_check(settings, redis_server.url)
    assert down.returncode == 1 and "Traceback" not in down.stderr, down.stderr
    # One connection attempt, not arq's five a second apart: compose allows the check 5 s.
    assert "retries remaining" not in down.stderr, down.stderr
    closed_port = f"redis://127.0.0.1:{free_port()}/0"
    assert worker_check(settings, closed_port).returncode == 1
