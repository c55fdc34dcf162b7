"""finance: a claim on each refund's payment attempt

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 15:25:00

``attempts`` counts provider calls; ``claimed_until`` is the lease of the worker calling
the provider now, so two workers never call it for the same refund at the same time.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import portal.models.base

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("attempts", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("claimed_until", portal.models.base.UTCDateTime(), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.drop_column("claimed_until")
        batch_op.drop_column("attempts")
