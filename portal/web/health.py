"""Liveness and readiness probes for the orchestrator."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from redis.asyncio import Redis


@get("/healthz", name="healthz", sync_to_thread=False, exclude_from_auth=True)
def healthz() -> dict[str, str]:
    """The process is up and serving."""
    return {"status": "ok"}


@get("/readyz", name="readyz")
async def readyz(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    """Ready when the database answers at the right migration and Redis (if configured) answers."""
    checks: dict[str, str] = {}
    db = request.app.state.db
    try:
        await db.ensure_migrated()
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {exc}"
    redis_url = request.app.state.settings.redis_url
    if redis_url:
        client = Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=2)
        try:
            await client.ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"error: {exc}"
        finally:
            await client.aclose()
    ready = all(value == "ok" for value in checks.values())
    return Response(
        {"status": "ok" if ready else "unavailable", "checks": checks},
        status_code=200 if ready else 503,
    )
