"""Warehouse records: one receipt per parcel, and parcels that matched no return."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from portal.models.base import created_at_field, time_field


class ParcelReceipt(SQLModel, table=True):
    """Who received a return's parcel, where and when.

    ``return_id`` is unique, so two stations scanning the same parcel at once can never
    write two receipts, whatever the isolation level. An admin's undo deletes the row (the
    audit trail keeps what it said) so the parcel can be received again.
    """

    __tablename__ = "parcel_receipts"
    __table_args__ = (sa.Index("ix_parcel_receipts_received", "received_at", "received_by"),)

    id: int | None = Field(default=None, primary_key=True)
    return_id: int = Field(foreign_key="returns.id", unique=True)
    warehouse: str = Field(default="", max_length=64)
    station: str = Field(default="", max_length=64)
    received_by: int = Field(foreign_key="staff_users.id")
    received_at: datetime = created_at_field()
    previous_status: str = Field(max_length=20)
    scanned_code: str = Field(default="", max_length=200)


class UnknownParcel(SQLModel, table=True):
    """A parcel whose scan matched no return: kept until someone works out what it is."""

    __tablename__ = "unknown_parcels"
    __table_args__ = (sa.Index("ix_unknown_parcels_open", "resolved", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    scanned_code: str = Field(max_length=200)
    warehouse: str = Field(default="", max_length=64)
    station: str = Field(default="", max_length=64)
    scanned_by: int = Field(foreign_key="staff_users.id")
    created_at: datetime = created_at_field()
    notes: str = Field(default="", max_length=2000)
    resolved: bool = False
    resolved_by: int | None = Field(default=None, foreign_key="staff_users.id")
    resolved_at: datetime | None = time_field()
    return_id: int | None = Field(default=None, foreign_key="returns.id")


class GradePhoto(SQLModel, table=True):
    """A photo the grader took of a returned item (damage, wrong item, missing parts)."""

    __tablename__ = "grade_photos"

    id: int | None = Field(default=None, primary_key=True)
    return_line_id: int = Field(foreign_key="return_lines.id", index=True)
    media_id: int = Field(foreign_key="media.id", unique=True)
    uploaded_by: int = Field(foreign_key="staff_users.id")
    created_at: datetime = created_at_field()
