"""Merchant-console tables: each staff user's private policy draft."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from portal.models.base import JSONType, created_at_field


class PolicyDraft(SQLModel, table=True):
    """One unpublished policy text per user, so two merchants never overwrite each other."""

    __tablename__ = "policy_drafts"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="staff_users.id", unique=True)
    yaml_text: str = Field(sa_type=sa.Text)
    base_version: int | None = None
    updated_at: datetime = created_at_field()


class StoreSettings(SQLModel, table=True):
    """The merchant's own settings, edited in the console; one row (id 1).

    A missing row or a null column means "use the operator's environment default", so a
    fresh install needs no settings row at all.
    """

    __tablename__ = "store_settings"

    id: int | None = Field(default=None, primary_key=True)
    store_name: str | None = Field(default=None, max_length=120)
    logo_media_id: int | None = Field(default=None, foreign_key="media.id")
    brand_color: str | None = Field(default=None, max_length=7)
    accent_color: str | None = Field(default=None, max_length=7)
    support_email: str | None = Field(default=None, max_length=320)
    carrier_preferences: list[str] | None = Field(default=None, sa_type=JSONType)
    service_preferences: list[str] | None = Field(default=None, sa_type=JSONType)
    # product type -> [length in, width in, height in, weight oz per unit]
    parcel_sizes: dict[str, list[float]] | None = Field(default=None, sa_type=JSONType)
    updated_at: datetime = created_at_field()
    updated_by: str | None = Field(default=None, max_length=320)


class NotificationTemplate(SQLModel, table=True):
    """A merchant's wording for one shopper e-mail, replacing the shipped template's."""

    __tablename__ = "notification_templates"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=60, unique=True)
    subject: str = Field(max_length=300)
    body_text: str = Field(sa_type=sa.Text)
    body_html: str = Field(sa_type=sa.Text)
    updated_at: datetime = created_at_field()
    updated_by: str | None = Field(default=None, max_length=320)
