"""merchant settings: branding, carrier preferences, parcel sizes, e-mail wording

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

import portal.models.base

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
String = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "store_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("store_name", String(length=120), nullable=True),
        sa.Column("logo_media_id", sa.Integer(), nullable=True),
        sa.Column("brand_color", String(length=7), nullable=True),
        sa.Column("accent_color", String(length=7), nullable=True),
        sa.Column("support_email", String(length=320), nullable=True),
        sa.Column("carrier_preferences", JSON, nullable=True),
        sa.Column("service_preferences", JSON, nullable=True),
        sa.Column("parcel_sizes", JSON, nullable=True),
        sa.Column("updated_at", portal.models.base.UTCDateTime(), nullable=False),
        sa.Column("updated_by", String(length=320), nullable=True),
        sa.ForeignKeyConstraint(
            ["logo_media_id"], ["media.id"], name=op.f("fk_store_settings_logo_media_id_media")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_store_settings")),
    )
    op.create_table(
        "notification_templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", String(length=60), nullable=False),
        sa.Column("subject", String(length=300), nullable=False),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=False),
        sa.Column("updated_at", portal.models.base.UTCDateTime(), nullable=False),
        sa.Column("updated_by", String(length=320), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_templates")),
        sa.UniqueConstraint("name", name=op.f("uq_notification_templates_name")),
    )


def downgrade() -> None:
    op.drop_table("notification_templates")
    op.drop_table("store_settings")
