"""Test plumbing: a fresh, migrated database per test on SQLite or PostgreSQL.

``PORTAL_TEST_DB=postgres`` runs the suite on PostgreSQL (``PORTAL_TEST_POSTGRES_URL``);
the default is SQLite. Either way the schema comes from the real Alembic migrations.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from portal.app import create_app
from portal.composition import install_hooks
from portal.db import Database, migrate
from portal.settings import Settings, async_database_url
from tests.support.services import (
    POSTGRES_ADMIN_URL,
    REDIS_URL,
    postgres_available,
    redis_available,
    run_async,
    unavailable,
)

BACKEND = os.environ.get("PORTAL_TEST_DB", "sqlite")
USE_REDIS = os.environ.get("PORTAL_TEST_REDIS", "") in ("1", "true")
TEST_SECRET = "test-secret-key-that-is-long-enough-for-production-0123456789"


def _pg_url(database: str) -> str:
    return re.sub(r"/[^/]*$", f"/{database}", POSTGRES_ADMIN_URL)


async def _pg_admin(sql: str) -> None:
    conn = await asyncpg.connect(POSTGRES_ADMIN_URL.replace("postgresql://", "postgres://", 1))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


class PostgresDatabases:
    """Creates throwaway databases and drops them at the end of the session."""

    def __init__(self) -> None:
        self.created: list[str] = []

    def create(self, prefix: str = "portal_test") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        run_async(_pg_admin(f'CREATE DATABASE "{name}"'))
        self.created.append(name)
        return _pg_url(name)

    def drop_all(self) -> None:
        for name in self.created:
            run_async(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def pg_databases() -> Iterator[PostgresDatabases]:
    if not postgres_available():
        unavailable(f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL}")
    databases = PostgresDatabases()
    yield databases
    databases.drop_all()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file; each test gets a copy (fast, and truly fresh)."""
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    migrate(async_database_url(f"sqlite:///{path}"))
    return path


@pytest.fixture(scope="session")
def pg_migrated(request: pytest.FixtureRequest) -> str:
    databases: PostgresDatabases = request.getfixturevalue("pg_databases")
    url = databases.create()
    migrate(async_database_url(url))
    return url


async def _truncate_all(url: str) -> None:
    conn = await asyncpg.connect(url.replace("postgresql://", "postgres://", 1))
    try:
        tables = [
            row["tablename"]
            for row in await conn.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename <> 'alembic_version'"
            )
        ]
        if tables:
            await conn.execute(
                "TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"
            )
    finally:
        await conn.close()


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database for this test, as a plain URL."""
    if BACKEND == "postgres":
        url = request.getfixturevalue("pg_migrated")
        run_async(_truncate_all(url))
        return url
    template: Path = request.getfixturevalue("sqlite_template")
    target = tmp_path / "portal.sqlite3"
    shutil.copyfile(template, target)
    return f"sqlite:///{target}"


async def _flush_test_redis() -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(REDIS_URL)
    try:
        await client.flushdb()
    finally:
        await client.aclose()


@pytest.fixture(autouse=True, scope="session")
def domain_hooks() -> None:
    """The hooks the app, the worker and the runner register when they start, for tests
    that call the domain directly (a refund decided completes its return)."""
    install_hooks(Settings(_env_file=None, secret_key=TEST_SECRET))  # type: ignore[call-arg]


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    if USE_REDIS:
        if not redis_available():
            unavailable(f"Redis is not reachable at {REDIS_URL}")
        run_async(_flush_test_redis())
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "data",
        database_url=database_url,
        secret_key=TEST_SECRET,
        redis_url=REDIS_URL if USE_REDIS else None,
        base_url="http://testserver.local",
        log_level="WARNING",
        inprocess_jobs=False,  # tests drain the outbox explicitly (see the `jobs` fixture)
    )


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    database = Database(settings.resolved_database_url)
    yield database
    await database.dispose()


@pytest.fixture
def app(settings: Settings) -> Litestar:
    return create_app(settings)


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as test_client:
        yield test_client


def csrf_token(client: Any) -> str:
    token = client.cookies.get("portal_csrf")
    assert token, "no CSRF cookie yet: GET a page with a form first"
    return token


async def submit_form(
    client: Any, form_page: str, action: str, data: dict[str, Any], **kwargs: Any
) -> Any:
    """Load the page with the form (to get the CSRF cookie), then post the form as a browser would."""
    page = await client.get(form_page)
    assert page.status_code < 400, page.text
    return await client.post(action, data={**data, "_csrf_token": csrf_token(client)}, **kwargs)


@pytest.fixture
async def jobs(settings: Settings, db: Database):
    """Runs queued side effects on demand: ``await jobs.drain()``."""
    from portal.composition import build_context
    from portal.jobs.runner import InProcessRunner

    runner = InProcessRunner(build_context(settings, db))
    yield runner
    await runner.stop()
