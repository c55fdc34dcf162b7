"""Merchant-console tables: each staff user's private policy draft."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from portal.models.base import created_at_field


class PolicyDraft(SQLModel, table=True):
    """One unpublished policy text per user, so two merchants never overwrite each other."""

    __tablename__ = "policy_drafts"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="staff_users.id", unique=True)
    yaml_text: str = Field(sa_type=sa.Text)
    base_version: int | None = None
    updated_at: datetime = created_at_field()
