"""The one way a stateful row changes state: a compare-and-set on its current state.

Each state machine (``portal.returns.states``, ``portal.returns.exchange_states``,
``portal.money.refund_states``, ``portal.jobs.outbox_states``, ``portal.webhook_states``)
is a ``Machine`` over a ``StrEnum`` and its transition table (both in ``portal.models``)
plus a few named transitions (``cancel``, ``approve``, ``mark_paid`` …) built on
``Machine.move``:

- the move must be in the table (or in the ``allowed`` set a named transition passes, for
  the few moves the table does not make by itself, such as undoing a receipt);
- ``UPDATE … SET state = :to WHERE id = :id AND state = :from`` (and any further
  conditions): when no row matched, someone else moved it first and nothing is changed;
- the loaded object is updated to what was written, and the audit event is added, all in
  the caller's transaction (nothing here commits).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.audit import record
from portal.errors import Conflict

S = TypeVar("S", bound=StrEnum)


class TransitionError(Conflict):
    """The move is not allowed from the row's current state, or someone moved it first.
    Nothing was written."""


@dataclass(frozen=True)
class Machine(Generic[S]):
    """A state column of one table, its states and the moves between them.

    ``entity`` names the row in the audit log (``"refund"``); None for rows that are not
    audited (outbox rows).
    """

    states: type[S]
    table: Mapping[S, frozenset[S]]
    model: type[Any]
    column: str = "status"
    entity: str | None = None

    def state_of(self, row: Any) -> S:
        return self.states(getattr(row, self.column))

    def can(self, from_state: str, to_state: str) -> bool:
        try:
            return self.states(to_state) in self.table.get(self.states(from_state), frozenset())
        except ValueError:
            return False

    def check(
        self, row: Any, to_state: S, *, allowed: Iterable[S] | None = None, what: str = ""
    ) -> S:
        """The row's current state, when ``to_state`` may follow it; else TransitionError."""
        current = self.state_of(row)
        targets = frozenset(allowed) if allowed is not None else self.table[current]
        if to_state not in targets:
            name = what or f"{self.entity or self.model.__name__} {row.id}"
            raise TransitionError(f"{name.capitalize()} is {current}; it cannot become {to_state}.")
        return current

    async def move(
        self,
        session: AsyncSession,
        row: Any,
        to_state: S,
        *,
        actor: str = "system",
        action: str | None = None,
        reason: str = "",
        data: dict[str, Any] | None = None,
        values: Mapping[str, Any] | None = None,
        where: Iterable[Any] = (),
        allowed: Iterable[S] | None = None,
        what: str = "",
        audit: bool = True,
    ) -> S:
        """Move ``row`` to ``to_state`` by compare-and-set; returns the state it left.

        ``values``: further columns set by the same statement; ``where``: further
        conditions (a version column, a lease). ``action`` names the audit event (default
        ``to_state``). Raises ``TransitionError`` (nothing written) when the move is not
        allowed or the row is no longer in the state it was loaded in.
        """
        from_state = self.check(row, to_state, allowed=allowed, what=what)
        changes = {self.column: to_state, **(values or {})}
        model = self.model
        result = await session.exec(
            sa.update(model)
            .where(model.id == row.id, getattr(model, self.column) == from_state, *where)
            .values(**changes)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            name = what or f"{self.entity or model.__name__} {row.id}"
            raise TransitionError(
                f"{name.capitalize()} was changed by someone else; reload and retry."
            )
        for key, value in changes.items():
            if not isinstance(value, sa.sql.ClauseElement):
                set_committed_value(row, key, value)
        if audit and self.entity is not None:
            await record(
                session,
                actor,
                self.entity,
                row.id,
                action or str(to_state),
                from_state=from_state,
                to_state=to_state,
                reason=reason,
                data=data,
            )
        return from_state
