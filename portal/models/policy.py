"""Stored policy versions. Exactly one is active; the database enforces it."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from portal.models.base import created_at_field


class PolicyVersion(SQLModel, table=True):
    __tablename__ = "policy_versions"
    __table_args__ = (
        sa.Index(
            "uq_policy_versions_one_active",
            "active",
            unique=True,
            sqlite_where=sa.text("active"),
            postgresql_where=sa.text("active"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    version: int = Field(unique=True)
    name: str = Field(max_length=200)
    yaml_text: str = Field(sa_type=sa.Text)
    sha256: str = Field(max_length=64, index=True)
    author: str = Field(max_length=320)
    note: str = Field(default="", max_length=500)
    active: bool = False
    created_at: datetime = created_at_field()
