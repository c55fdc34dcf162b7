"""One typed settings object, read from the environment (prefix ``PORTAL_``) and ``.env``.

Validated at start-up: a wrong value stops the process with a message naming the variable.
"""

from __future__ import annotations

import ipaddress
import secrets
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "PORTAL_"


class SettingsError(Exception):
    """Configuration is unusable; the message names the variables to fix."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", extra="ignore", validate_default=True
    )

    env: Literal["development", "production"] = "development"
    data_dir: Path = Path("var")
    database_url: str = ""
    redis_url: str | None = None
    secret_key: str | None = None
    base_url: str = "http://127.0.0.1:8000"

    store_name: str = "Demo Store"
    store_logo_url: str | None = None
    brand_color: str = "#1f5f8b"
    support_email: str = "support@example.com"

    easypost_api_key: str | None = None
    easypost_webhook_secret: str | None = None
    easypost_api_base: str | None = None
    stripe_api_key: str | None = None
    stripe_webhook_secret: str | None = None
    stripe_api_base: str | None = None
    four_eyes_threshold: int = Field(default=50000, ge=1)  # minor units: two approvers at or above

    smtp_url: str | None = None
    mail_from: str = "returns@example.com"

    session_idle_minutes: int = Field(default=60, ge=1, le=24 * 60)
    # An absolute lifetime for staff sessions, however active (the idle timeout is above).
    session_max_hours: int = Field(default=12, ge=1, le=24 * 30)
    login_attempts_per_minute: int = Field(default=10, ge=1)
    # Per account: after this many wrong passwords each further try waits 1 s, 2 s, 4 s, …
    # up to login_backoff_max_seconds (so strangers cannot lock staff out for long).
    login_free_failures: int = Field(default=5, ge=1)
    login_backoff_max_seconds: int = Field(default=300, ge=1, le=3600)
    lookup_attempts_per_minute: int = Field(default=10, ge=1)
    web_workers: int = Field(default=1, ge=1, le=64)
    job_timeout_seconds: int = Field(default=300, ge=1)
    dispatch_poll_ms: int = Field(default=200, ge=10, le=60_000)
    job_modules: str = ""
    inprocess_jobs: bool = True
    carrier_preferences: str = ""
    service_preferences: str = ""
    sandbox_pace_minutes: float = Field(default=5.0, gt=0)
    tracking_refresh_minutes: int = Field(default=60, ge=1)
    # Store webhooks to http:// URLs and internal addresses (loopback, private, link-local…).
    # Unset: allowed in development (the demo and a store on the same machine), refused in
    # production (SSRF). See ``webhooks_private_allowed``.
    webhooks_allow_private: bool | None = None
    # Reverse proxies (addresses or CIDR networks, comma-separated) whose X-Forwarded-For
    # and X-Forwarded-Proto are believed. Unset: none, the peer address is the client.
    trusted_proxies: str = ""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_json: bool = False

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if value and not value.startswith(("sqlite", "postgresql", "postgres")):
            raise ValueError("must be a sqlite:/// or postgresql:// URL")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis:// URL")
        return value

    @field_validator("webhooks_allow_private", mode="before")
    @classmethod
    def _unset_when_empty(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("trusted_proxies")
    @classmethod
    def _trusted_proxies(cls, value: str) -> str:
        entries = [item.strip() for item in value.split(",") if item.strip()]
        for entry in entries:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"{entry!r} is not an IP address or network (e.g. 10.0.0.5, 10.0.0.0/8)"
                ) from None
        return ",".join(entries)

    @property
    def trusted_proxy_list(self) -> list[str]:
        return [item for item in self.trusted_proxies.split(",") if item]

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("brand_color")
    @classmethod
    def _colour(cls, value: str) -> str:
        if not (value.startswith("#") and len(value) in (4, 7)):
            raise ValueError("must be a CSS hex colour such as #1f5f8b")
        int(value[1:], 16)
        return value

    @model_validator(mode="after")
    def _production_needs(self) -> Settings:
        if self.env == "production":
            missing = [
                f"{ENV_PREFIX}{name.upper()}"
                for name in ("secret_key", "database_url")
                if not getattr(self, name)
            ]
            if missing:
                raise ValueError(f"production requires {', '.join(missing)}")
            if self.secret_key and len(self.secret_key) < 32:
                raise ValueError(f"{ENV_PREFIX}SECRET_KEY must be at least 32 characters")
        return self

    @cached_property
    def resolved_database_url(self) -> str:
        """The async SQLAlchemy URL for the configured database."""
        return async_database_url(
            self.database_url or f"sqlite:///{(self.data_dir / 'portal.sqlite3').as_posix()}"
        )

    @property
    def webhooks_private_allowed(self) -> bool:
        """Whether store webhooks may use http:// and reach internal addresses."""
        if self.webhooks_allow_private is None:
            return self.env == "development"
        return self.webhooks_allow_private

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    def ensure_secret_key(self) -> str:
        """The embedded default generates a key once and keeps it in the data directory."""
        if self.secret_key:
            return self.secret_key
        key_file = self.data_dir / "secret_key"
        if key_file.exists():
            self.secret_key = key_file.read_text().strip()
        else:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self.secret_key = secrets.token_urlsafe(48)
            key_file.write_text(self.secret_key)
            key_file.chmod(0o600)
        return self.secret_key


def async_database_url(url: str) -> str:
    """Map plain database URLs to the async drivers the portal uses."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        return "postgresql+asyncpg://" + url[len("postgresql://") :]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    return url


def load_settings(**overrides: Any) -> Settings:
    """Read and validate the settings, turning pydantic's errors into one clear message."""
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            field = ".".join(str(p) for p in error["loc"]) or "configuration"
            name = f"{ENV_PREFIX}{field.upper()}" if error["loc"] else "configuration"
            lines.append(f"  {name}: {error['msg']}")
        raise SettingsError("Invalid configuration:\n" + "\n".join(lines)) from None
    settings.ensure_secret_key()
    return settings
