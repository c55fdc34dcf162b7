"""Start-up configuration errors, health probes and the shared stores."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from litestar.stores.redis import RedisStore

from portal.settings import SettingsError, load_settings
from portal.stores import DatabaseStore
from tests.support.services import REDIS_URL, redis_available, unavailable


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"PORTAL_DATABASE_URL": "mysql://x"}, "PORTAL_DATABASE_URL"),
        ({"PORTAL_REDIS_URL": "localhost:6379"}, "PORTAL_REDIS_URL"),
        ({"PORTAL_BASE_URL": "portal.example.com"}, "PORTAL_BASE_URL"),
        ({"PORTAL_BRAND_COLOR": "blue"}, "PORTAL_BRAND_COLOR"),
        ({"PORTAL_SESSION_IDLE_MINUTES": "0"}, "PORTAL_SESSION_IDLE_MINUTES"),
        ({"PORTAL_ENV": "staging"}, "PORTAL_ENV"),
        ({"PORTAL_ENV": "production"}, "PORTAL_SECRET_KEY"),
    ],
)
def test_bad_configuration_names_the_variable(monkeypatch, tmp_path, env, named) -> None:
    monkeypatch.chdir(tmp_path)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert named in str(info.value)


def test_embedded_default_keeps_one_generated_secret(monkeypatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    first = load_settings(data_dir=tmp_path / "var")
    second = load_settings(data_dir=tmp_path / "var")
    assert first.secret_key and first.secret_key == second.secret_key
    assert first.resolved_database_url.startswith("sqlite+aiosqlite:///")
    assert (tmp_path / "var" / "secret_key").stat().st_mode & 0o077 == 0


def test_postgres_urls_use_the_async_driver(monkeypatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(database_url="postgres://u@db:5432/portal", secret_key="k" * 40)
    assert settings.resolved_database_url == "postgresql+asyncpg://u@db:5432/portal"


async def test_health_and_readiness(client) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"] == "ok"


async def test_readiness_fails_when_redis_is_unreachable(settings) -> None:
    from litestar.testing import AsyncTestClient

    from portal.app import create_app

    settings.redis_url = "redis://127.0.0.1:1/0"
    async with AsyncTestClient(app=create_app(settings)) as client:
        ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["redis"].startswith("error")
    assert ready.json()["checks"]["database"] == "ok"


async def _exercise_store(store) -> None:
    await store.set("a", b"one", expires_in=60)
    assert await store.get("a") == b"one"
    await store.set("a", "two")  # replace, no expiry
    assert await store.get("a") == b"two"
    assert await store.expires_in("a") in (None, -1)  # Redis says -1 for "never"
    await store.set("short", b"x", expires_in=timedelta(seconds=1))
    assert await store.exists("short")
    await asyncio.sleep(1.2)
    assert await store.get("short") is None
    other = store.with_namespace("other")
    await other.set("a", b"elsewhere")
    assert await store.get("a") == b"two"
    await store.delete("a")
    assert await store.get("a") is None
    assert await other.get("a") == b"elsewhere"


async def test_database_store_behaves_like_a_litestar_store(db) -> None:
    await _exercise_store(DatabaseStore(db).with_namespace("test"))


async def test_database_store_renews_on_access(db) -> None:
    store = DatabaseStore(db)
    await store.set("s", b"data", expires_in=2)
    assert await store.get("s", renew_for=100) == b"data"
    assert (await store.expires_in("s")) > 50


@pytest.mark.redis
async def test_redis_store_is_used_the_same_way() -> None:
    if not redis_available():
        unavailable(f"Redis is not reachable at {REDIS_URL}")
    store = RedisStore.with_client(url=REDIS_URL, namespace="portal-test")
    try:
        await _exercise_store(store.with_namespace("t"))
    finally:
        await store.delete_all()
        await store._redis.aclose()
