"""The domain's errors: a request that cannot go ahead, and nothing was written.

Domain code raises a ``DomainError`` (usually one of its kinds below, or a named subclass
such as ``WarehouseError``) with a sentence for the person who asked and, for a form, one
sentence per field in ``problems``. The web layer maps it to HTTP once (an app exception
handler): not found → 404, conflict → 409, forbidden → 403, invalid → 400 (or the class's
own ``status_code``). This module imports nothing of the portal, so every layer may use it.

A ``DomainError`` is a ``ValueError``, as the errors it replaced were.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

KIND_STATUS: Mapping[str, int] = {
    "invalid": 400,
    "forbidden": 403,
    "not_found": 404,
    "conflict": 409,
    "stale": 409,  # the form was built on something that changed meanwhile (a new policy)
    "out_of_stock": 409,
    "closed": 409,  # the store takes no returns right now
}


class DomainError(ValueError):
    """The request cannot go ahead; nothing was written.

    ``message`` is for the person who asked; ``problems`` maps a form field (or another
    key the page knows, such as ``"line:<id>"``) to a sentence; ``kind`` says what went
    wrong (see ``KIND_STATUS``) and so which HTTP status the answer gets.
    """

    kind: str = "invalid"
    status_code: int = 400

    def __init__(
        self, message: str = "", problems: Mapping[str, str] | None = None, kind: str = ""
    ) -> None:
        super().__init__(message)
        self.message = message
        self.problems: dict[str, str] = dict(problems or {})
        if kind:
            self.kind = kind
            self.status_code = KIND_STATUS.get(kind, type(self).status_code)

    def __str__(self) -> str:
        return self.message

    def as_json(self) -> dict[str, Any]:
        """The API's answer: ``{"detail": message, "errors": {field: sentence}}``."""
        body: dict[str, Any] = {"detail": self.message}
        if self.problems:
            body["errors"] = self.problems
        return body


class Invalid(DomainError):
    """What was sent cannot be accepted as it stands (a field is wrong or missing)."""

    kind = "invalid"
    status_code = 400


class NotFound(DomainError):
    """The thing asked about does not exist (or is not theirs to see)."""

    kind = "not_found"
    status_code = 404


class Conflict(DomainError):
    """The thing is not in a state that allows this (already done, moved on meanwhile)."""

    kind = "conflict"
    status_code = 409


class Forbidden(DomainError):
    """The person may not do this (the same approver twice, a role that does not allow it)."""

    kind = "forbidden"
    status_code = 403
