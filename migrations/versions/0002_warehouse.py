"""warehouse: parcel receipts and unknown parcels

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import portal.models.base

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "parcel_receipts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("return_id", sa.Integer(), nullable=False),
        sa.Column("warehouse", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("station", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("received_by", sa.Integer(), nullable=False),
        sa.Column("received_at", portal.models.base.UTCDateTime(), nullable=False),
        sa.Column("previous_status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("scanned_code", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["received_by"],
            ["staff_users.id"],
            name=op.f("fk_parcel_receipts_received_by_staff_users"),
        ),
        sa.ForeignKeyConstraint(
            ["return_id"], ["returns.id"], name=op.f("fk_parcel_receipts_return_id_returns")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_parcel_receipts")),
        sa.UniqueConstraint("return_id", name=op.f("uq_parcel_receipts_return_id")),
    )
    with op.batch_alter_table("parcel_receipts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_parcel_receipts_received", ["received_at", "received_by"], unique=False
        )

    op.create_table(
        "unknown_parcels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scanned_code", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("warehouse", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("station", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("scanned_by", sa.Integer(), nullable=False),
        sa.Column("created_at", portal.models.base.UTCDateTime(), nullable=False),
        sa.Column("notes", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("resolved", sa.Boolean(), nullable=False),
        sa.Column("resolved_by", sa.Integer(), nullable=True),
        sa.Column("resolved_at", portal.models.base.UTCDateTime(), nullable=True),
        sa.Column("return_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["resolved_by"],
            ["staff_users.id"],
            name=op.f("fk_unknown_parcels_resolved_by_staff_users"),
        ),
        sa.ForeignKeyConstraint(
            ["return_id"], ["returns.id"], name=op.f("fk_unknown_parcels_return_id_returns")
        ),
        sa.ForeignKeyConstraint(
            ["scanned_by"],
            ["staff_users.id"],
            name=op.f("fk_unknown_parcels_scanned_by_staff_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unknown_parcels")),
    )
    with op.batch_alter_table("unknown_parcels", schema=None) as batch_op:
        batch_op.create_index("ix_unknown_parcels_open", ["resolved", "created_at"], unique=False)

    op.create_table(
        "grade_photos",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("return_line_id", sa.Integer(), nullable=False),
        sa.Column("media_id", sa.Integer(), nullable=False),
        sa.Column("uploaded_by", sa.Integer(), nullable=False),
        sa.Column("created_at", portal.models.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["media_id"], ["media.id"], name=op.f("fk_grade_photos_media_id_media")
        ),
        sa.ForeignKeyConstraint(
            ["return_line_id"],
            ["return_lines.id"],
            name=op.f("fk_grade_photos_return_line_id_return_lines"),
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by"],
            ["staff_users.id"],
            name=op.f("fk_grade_photos_uploaded_by_staff_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grade_photos")),
        sa.UniqueConstraint("media_id", name=op.f("uq_grade_photos_media_id")),
    )
    with op.batch_alter_table("grade_photos", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_grade_photos_return_line_id"), ["return_line_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("grade_photos", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_grade_photos_return_line_id"))
    op.drop_table("grade_photos")
    with op.batch_alter_table("unknown_parcels", schema=None) as batch_op:
        batch_op.drop_index("ix_unknown_parcels_open")
    op.drop_table("unknown_parcels")
    with op.batch_alter_table("parcel_receipts", schema=None) as batch_op:
        batch_op.drop_index("ix_parcel_receipts_received")
    op.drop_table("parcel_receipts")
