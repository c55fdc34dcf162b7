"""Alembic environment: runs migrations over the portal's async engine."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from alembic import context
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString

import portal.models  # noqa: F401  (registers every table)
from portal.db import make_engine
from portal.models.base import StateColumn, UTCDateTime

config = context.config
target_metadata = SQLModel.metadata


def _render_item(type_: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    """Render the portal's own column types by their real import path."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "portal.models.base.UTCDateTime()"
    if type_ == "type" and isinstance(obj, StateColumn):  # stored as a plain string
        return f"sqlmodel.sql.sqltypes.AutoString(length={obj.impl.length})"
    if type_ == "type" and isinstance(obj, AutoString):
        return f"sqlmodel.sql.sqltypes.AutoString(length={obj.length})"
    return False


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str) -> None:
    engine = make_engine(url)
    async with engine.connect() as connection:
        await connection.run_sync(_configure)
        await connection.commit()
    await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        from portal.settings import load_settings

        url = load_settings().resolved_database_url
    asyncio.run(_run_async(url))


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
