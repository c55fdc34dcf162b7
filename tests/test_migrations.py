"""The migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from litestar.testing import AsyncTestClient
from sqlmodel import SQLModel

import portal.models  # noqa: F401
from portal.app import create_app
from portal.db import Database, NotMigrated, head_revision, make_engine, migrate
from portal.models.base import StateColumn
from portal.settings import Settings, async_database_url


async def _drift(url: str) -> list[object]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(
                lambda sync_conn: compare_metadata(
                    MigrationContext.configure(sync_conn, opts={"compare_type": True}),
                    SQLModel.metadata,
                )
            )
    finally:
        await engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_upgrade_head_matches_models(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if backend == "postgres":
        url = request.getfixturevalue("pg_databases").create("portal_drift")
    else:
        url = f"sqlite:///{tmp_path / 'drift.sqlite3'}"
    async_url = async_database_url(url)
    migrate(async_url)
    diff = asyncio.run(_drift(async_url))
    assert diff == [], f"models and migrations differ on {backend}: {diff}"
    db = Database(async_url)
    try:
        assert asyncio.run(db.current_revision()) == head_revision()
    finally:
        asyncio.run(db.dispose())


async def _state_checks(url: str) -> dict[tuple[str, str], set[str]]:
    """Each state column's CHECK as the database has it: (table, column) → the values."""
    engine = make_engine(url)

    def reflect(sync_conn: sa.Connection) -> dict[tuple[str, str], set[str]]:
        inspector = sa.inspect(sync_conn)
        found = {}
        for table, column in STATE_COLUMNS:
            for check in inspector.get_check_constraints(table):
                if check["name"] == f"ck_{table}_{column}_known":
                    found[table, column] = set(re.findall(r"'([a-z_]+)'", check["sqltext"]))
        return found

    try:
        async with engine.connect() as conn:
            return await conn.run_sync(reflect)
    finally:
        await engine.dispose()


STATE_COLUMNS = [
    (table.name, column.name)
    for table in SQLModel.metadata.sorted_tables
    for column in table.columns
    if isinstance(column.type, StateColumn)
]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_the_database_refuses_exactly_the_states_the_machines_do_not_know(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Alembic does not compare CHECK constraints, so the drift test cannot see them."""
    if backend == "postgres":
        url = request.getfixturevalue("pg_databases").create("portal_checks")
    else:
        url = f"sqlite:///{tmp_path / 'checks.sqlite3'}"
    async_url = async_database_url(url)
    migrate(async_url)
    found = asyncio.run(_state_checks(async_url))
    expected = {
        (table, column): {str(s) for s in SQLModel.metadata.tables[table].c[column].type.states}  # type: ignore[attr-defined]
        for table, column in STATE_COLUMNS
    }
    assert len(expected) == 6 and found == expected


async def test_app_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    settings = Settings(
        _env_file=None,
        data_dir=tmp_path,  # type: ignore[call-arg]
        database_url=f"sqlite:///{tmp_path / 'empty.sqlite3'}",
        secret_key="x" * 40,
    )
    app = create_app(settings)
    with pytest.raises(BaseException) as info:  # Litestar wraps start-up errors in a group
        async with AsyncTestClient(app=app):
            pass
    errors = getattr(info.value, "exceptions", [info.value])
    assert any(isinstance(e, NotMigrated) and "Run `portal migrate`" in str(e) for e in errors)
