"""Staff accounts and the store's API tokens."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from portal.models.base import created_at_field, json_field, time_field

ROLES = ("admin", "merchant", "warehouse", "finance")


class StaffUser(SQLModel, table=True):
    __tablename__ = "staff_users"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320, unique=True)
    name: str = Field(default="", max_length=200)
    password_hash: str = Field(max_length=200)
    roles: list[str] = json_field(list)
    active: bool = True
    created_at: datetime = created_at_field()
    last_login_at: datetime | None = time_field()

    def has_role(self, *wanted: str) -> bool:
        """Admins may enter every area; other roles only their own."""
        return "admin" in self.roles or any(role in self.roles for role in wanted)


class ApiToken(SQLModel, table=True):
    """Only a SHA-256 of the token is kept; the token itself is shown once at creation."""

    __tablename__ = "api_tokens"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120)
    token_sha256: str = Field(max_length=64, unique=True)
    prefix: str = Field(max_length=12)
    created_at: datetime = created_at_field()
    last_used_at: datetime | None = time_field()
    revoked_at: datetime | None = time_field()
