"""Column types and helpers shared by every table."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field
from sqlmodel.sql.sqltypes import AutoString


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Timezone-aware UTC on the way in and out, on PostgreSQL and SQLite alike.

    SQLite has no time zones, so naive values would leak out; this type refuses naive
    input and always hands back aware UTC datetimes.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


def created_at_field() -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


def time_field(*, index: bool = False) -> Any:
    return Field(default=None, sa_type=UTCDateTime, nullable=True, index=index)


def json_field(default_factory: Any = dict) -> Any:
    return Field(default_factory=default_factory, sa_type=JSONType, nullable=False)


def table_of(model: type[Any]) -> sa.Table:
    """The Core table of a table model (SQLModel sets ``__table__`` but does not declare it)."""
    table: sa.Table = model.__table__
    return table


class _Stored(Protocol):
    @property
    def id(self) -> int | None: ...


def id_of(row: _Stored) -> int:
    """The primary key of a row that was loaded or flushed (SQLModel types it ``int | None``)."""
    if row.id is None:
        raise RuntimeError(f"{type(row).__name__} has no id yet: add and flush it first")
    return row.id


def one_of(column: str, values: Iterable[str], name: str) -> sa.CheckConstraint:
    """A CHECK that keeps a status column inside its state machine's vocabulary."""
    quoted = ", ".join(f"'{v}'" for v in values)
    return sa.CheckConstraint(f"{column} IN ({quoted})", name=name)


S = TypeVar("S", bound=StrEnum)


def check_table(states: type[S], table: Mapping[S, frozenset[S]]) -> None:
    """Every state has a row, and every move leads to a state (checked at import)."""
    if set(table) != set(states) or not all(targets <= set(states) for targets in table.values()):
        raise AssertionError(f"{states.__name__}: the transition table does not cover the enum")


class StateColumn(sa.types.TypeDecorator[StrEnum]):
    """A state stored as its plain string (``VARCHAR``), read back as the enum member.

    Comparisons and binds take the enum or its string alike (a ``StrEnum`` is a ``str``);
    the CHECK constraint built by ``one_of`` from the same enum keeps the column honest.
    """

    impl = AutoString
    cache_ok = True

    def __init__(self, states: type[StrEnum], length: int) -> None:
        super().__init__(length=length)
        self.states = states

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> str | None:
        return None if value is None else str(value)

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> StrEnum | None:
        return None if value is None else self.states(value)

    @property
    def python_type(self) -> type[Any]:
        return self.states


def state_field(default: StrEnum, length: int) -> Any:
    """A state column of ``type(default)``: ``status: ReturnStatus = state_field(...)``."""
    return Field(default=default, sa_type=StateColumn(type(default), length), nullable=False)


# Stable constraint names on every dialect, so migrations and the models never drift.
from sqlmodel import SQLModel  # noqa: E402

SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
