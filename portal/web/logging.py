"""Structured request logging: one line per request with method, path, status and duration."""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger("portal.request")
# Signed shopper links are bearer credentials (30 days): never written whole to a log.
_LINK_TOKEN = re.compile(r"^/link/[^/]+")


def redact_path(path: str) -> str:
    return _LINK_TOKEN.sub("/link/[redacted]", path)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        payload.update(getattr(record, "fields", {}))
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        base = super().format(record)
        fields = getattr(record, "fields", {})
        return base + "".join(f" {k}={v}" for k, v in fields.items())


def configure_logging(level: str, as_json: bool) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonFormatter()
        if as_json
        else KeyValueFormatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    )
    root = logging.getLogger("portal")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    # Libraries that narrate every step at INFO: keep their warnings only.
    for noisy in ("weasyprint", "fontTools", "httpx", "arq.jobs"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def request_logging_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = secrets.token_hex(8)
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await app(scope, receive, send_wrapper)
        finally:
            if scope["path"] not in ("/healthz", "/readyz") and logger.isEnabledFor(logging.INFO):
                logger.info(
                    "request",
                    extra={
                        "fields": {
                            "request_id": request_id,
                            "method": scope["method"],
                            "path": redact_path(scope["path"]),
                            "status": status,
                            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                        }
                    },
                )

    return middleware
