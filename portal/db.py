"""Engine and session plumbing. One ``Database`` per process, handed to whoever needs it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


class NotMigrated(RuntimeError):
    """The database schema is missing or older than this code."""


def make_engine(url: str, *, pool_size: int = 10, echo: bool = False) -> AsyncEngine:
    """Create the async engine; SQLite gets WAL, foreign keys and a busy timeout."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, echo=echo, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    # No pre-ping: it costs a round trip on every checkout. After a database restart the
    # first query on a dead connection fails once and SQLAlchemy then discards the whole
    # pool; connections are also recycled hourly.
    return create_async_engine(
        url, echo=echo, pool_size=pool_size, max_overflow=pool_size, pool_recycle=3600
    )


class Database:
    """The engine and a session factory; sessions never expire objects on commit."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.engine = make_engine(url, pool_size=pool_size)
        self.sessions = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self.sessions() as session:
            yield session

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def current_revisions(self) -> set[str]:
        async with self.engine.connect() as conn:
            try:
                rows = (await conn.execute(text("SELECT version_num FROM alembic_version"))).all()
            except Exception:
                return set()
            return {row[0] for row in rows}

    async def current_revision(self) -> str | None:
        revisions = await self.current_revisions()
        return ",".join(sorted(revisions)) if revisions else None

    async def ensure_migrated(self) -> None:
        """Refuse to serve an unmigrated database, saying what to run."""
        heads = head_revisions()
        current = await self.current_revisions()
        if current != heads:
            state = (
                "has no schema" if not current else f"is at revision {', '.join(sorted(current))}"
            )
            raise NotMigrated(
                f"The database {state}, but this code needs revision {', '.join(sorted(heads))}. "
                "Run `portal migrate` first."
            )

    async def dispose(self) -> None:
        await self.engine.dispose()


def alembic_config(url: str | None = None) -> Any:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revisions() -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config()).get_heads())


def head_revision() -> str | None:
    heads = head_revisions()
    return ",".join(sorted(heads)) if heads else None


def migrate(url: str, revision: str = "heads") -> None:
    """Run Alembic's upgrade. Alembic drives the async engine with its own event loop, so
    when called from inside a running loop it runs in a worker thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        command.upgrade(alembic_config(url), revision)
        return
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(command.upgrade, alembic_config(url), revision).result()
