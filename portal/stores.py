"""Litestar stores shared by every replica: Redis when configured, else the database.

Sessions and rate-limit counters must survive a restart and be visible to every web
replica, so neither ever lives in process memory.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from litestar.stores.base import NamespacedStore
from litestar.stores.redis import RedisStore
from litestar.stores.registry import StoreRegistry
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from portal.db import Database
from portal.models.base import table_of, utcnow
from portal.models.outbox import KVEntry


def _seconds(value: int | timedelta | None) -> int | None:
    if value is None:
        return None
    return int(value.total_seconds()) if isinstance(value, timedelta) else int(value)


class DatabaseStore(NamespacedStore):
    """A Litestar ``Store`` kept in the ``kv_entries`` table."""

    def __init__(self, db: Database, namespace: str = "portal") -> None:
        self.db = db
        self.namespace = namespace

    def with_namespace(self, namespace: str) -> DatabaseStore:
        return DatabaseStore(self.db, f"{self.namespace}:{namespace}")

    def _key(self, key: str) -> str:
        return f"{self.namespace}:{key}"

    async def set(
        self, key: str, value: str | bytes, expires_in: int | timedelta | None = None
    ) -> None:
        data = value.encode() if isinstance(value, str) else value
        seconds = _seconds(expires_in)
        expires_at = utcnow() + timedelta(seconds=seconds) if seconds else None
        table = table_of(KVEntry)
        async with self.db.engine.begin() as conn:
            insert = pg_insert if self.db.dialect == "postgresql" else sqlite_insert
            stmt = insert(table).values(key=self._key(key), value=data, expires_at=expires_at)
            stmt = stmt.on_conflict_do_update(
                index_elements=[table.c.key],
                set_={"value": stmt.excluded.value, "expires_at": stmt.excluded.expires_at},
            )
            await conn.execute(stmt)

    async def get(self, key: str, renew_for: int | timedelta | None = None) -> bytes | None:
        table = table_of(KVEntry)
        full_key = self._key(key)
        async with self.db.engine.begin() as conn:
            row = (
                await conn.execute(
                    sa.select(table.c.value, table.c.expires_at).where(table.c.key == full_key)
                )
            ).first()
            if row is None:
                return None
            expires_at = row.expires_at
            if expires_at is not None and expires_at <= utcnow():
                await conn.execute(sa.delete(table).where(table.c.key == full_key))
                return None
            seconds = _seconds(renew_for)
            if seconds and expires_at is not None:
                await conn.execute(
                    sa.update(table)
                    .where(table.c.key == full_key)
                    .values(expires_at=utcnow() + timedelta(seconds=seconds))
                )
            return bytes(row.value)

    async def delete(self, key: str) -> None:
        table = table_of(KVEntry)
        async with self.db.engine.begin() as conn:
            await conn.execute(sa.delete(table).where(table.c.key == self._key(key)))

    async def delete_all(self) -> None:
        table = table_of(KVEntry)
        async with self.db.engine.begin() as conn:
            await conn.execute(sa.delete(table).where(table.c.key.startswith(f"{self.namespace}:")))

    async def delete_expired(self) -> int:
        table = table_of(KVEntry)
        async with self.db.engine.begin() as conn:
            result = await conn.execute(
                sa.delete(table).where(
                    table.c.expires_at.is_not(None), table.c.expires_at <= utcnow()
                )
            )
            return result.rowcount or 0

    async def exists(self, key: str) -> bool:
        return await self.get(key) is not None

    async def expires_in(self, key: str) -> int | None:
        table = table_of(KVEntry)
        async with self.db.engine.connect() as conn:
            expires_at = (
                await conn.execute(
                    sa.select(table.c.expires_at).where(table.c.key == self._key(key))
                )
            ).scalar_one_or_none()
        if expires_at is None:
            return None
        return max(0, int((expires_at - utcnow()).total_seconds()))


def make_root_store(db: Database, redis_url: str | None) -> NamespacedStore:
    if redis_url:
        return RedisStore.with_client(url=redis_url, namespace="portal")
    return DatabaseStore(db)


def make_store_registry(root: NamespacedStore) -> StoreRegistry:
    """Every named store (``sessions``, ``rate_limit``, …) is a namespace of the root store."""
    return StoreRegistry(default_factory=root.with_namespace)
