"""state CHECK constraints from the state machines' enums

Every state column's CHECK is rebuilt from its ``StrEnum`` (``ReturnStatus``,
``LabelState``, ``ExchangeStatus``, ``RefundStatus``, ``OutboxState``, ``DeliveryState``),
so the database refuses exactly what the state machines do not know. The vocabulary is
the one 0001 wrote; from here on it has one source. Should an enum gain or lose a state,
a new migration rebuilds the constraint the same way (``_rebuild``).

SQLite cannot alter a constraint: ``batch_alter_table`` copies the table.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Iterable, Sequence

from alembic import op

from portal.models.money import RefundStatus
from portal.models.outbox import OutboxState
from portal.models.returns import ExchangeStatus, LabelState, ReturnStatus
from portal.models.webhooks import DeliveryState

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATE_CHECKS: dict[str, list[tuple[str, Iterable[str]]]] = {
    "returns": [("status", ReturnStatus), ("label_state", LabelState)],
    "exchanges": [("status", ExchangeStatus)],
    "refunds": [("status", RefundStatus)],
    "outbox_messages": [("status", OutboxState)],
    "webhook_deliveries": [("status", DeliveryState)],
}
"""Table → its state columns and their vocabulary; each CHECK is ``ck_<table>_<column>_known``."""

# What 0001 and 0005 wrote, for the way back.
_BEFORE: dict[str, list[tuple[str, Iterable[str]]]] = {
    "returns": [
        (
            "status",
            (
                "requested",
                "approved",
                "label_issued",
                "in_transit",
                "delivered",
                "received",
                "inspected",
                "completed",
                "rejected",
                "cancelled",
                "expired",
            ),
        ),
        ("label_state", ("none", "pending", "ready", "failed", "voided")),
    ],
    "exchanges": [("status", ("reserved", "released", "shipped", "cancelled"))],
    "refunds": [
        (
            "status",
            ("pending_approval", "approved", "processing", "succeeded", "failed", "rejected"),
        )
    ],
    "outbox_messages": [("status", ("pending", "sent", "done", "dead"))],
    "webhook_deliveries": [("status", ("pending", "delivered", "failed"))],
}


def _rebuild(checks: dict[str, list[tuple[str, Iterable[str]]]]) -> None:
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    if sqlite:
        # Copying a table drops the old one, which other tables' rows point at: foreign
        # keys are off meanwhile (SQLite ignores the pragma inside a transaction) and
        # checked afterwards.
        with op.get_context().autocommit_block():
            op.execute("PRAGMA foreign_keys=OFF")
    for table, columns in checks.items():
        with op.batch_alter_table(table) as batch:
            for column, values in columns:
                name = op.f(f"ck_{table}_{column}_known")
                quoted = ", ".join(f"'{v}'" for v in values)
                batch.drop_constraint(name, type_="check")
                batch.create_check_constraint(name, f"{column} IN ({quoted})")
    if sqlite:
        broken = bind.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise RuntimeError(f"foreign keys broken by copying tables: {broken[:5]}")
        with op.get_context().autocommit_block():
            op.execute("PRAGMA foreign_keys=ON")


def upgrade() -> None:
    _rebuild(STATE_CHECKS)


def downgrade() -> None:
    _rebuild(_BEFORE)
