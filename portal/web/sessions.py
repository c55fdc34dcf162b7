"""Server-side sessions whose id is replaced at login (no session fixation)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie, MutableScopeHeaders
from litestar.middleware.session.server_side import (
    ServerSideSessionBackend,
    ServerSideSessionConfig,
)
from litestar.types import Empty, Message, ScopeSession
from litestar.utils.dataclass import extract_dataclass_items

_ROTATE = "portal.rotate_session"
_NEW_ID = "portal.new_session_id"
_LOADED = "portal.loaded_session"


def rotate_session(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    """Ask the backend to move this session's data to a fresh id when the response goes out."""
    connection.scope["state"][_ROTATE] = True


class RotatingSessionBackend(ServerSideSessionBackend):
    """Litestar's server-side backend, plus: rotation at login, and no store write for
    anonymous visitors or for a session whose data did not change (the store's own
    ``renew_on_access`` keeps an active session alive)."""

    async def load_from_connection(self, connection: ASGIConnection) -> dict[str, Any]:
        data = await super().load_from_connection(connection)
        connection.scope.setdefault("state", {})[_LOADED] = (
            self.serialize_data(data, connection.scope) if data else None
        )
        return data

    async def store_in_message(
        self, scope_session: ScopeSession, message: Message, connection: ASGIConnection
    ) -> None:
        state = connection.scope.setdefault("state", {})
        if state.pop(_ROTATE, False):
            old_id = connection.cookies.get(self.config.key)
            if old_id:
                await self.delete(old_id, store=self.config.get_store_from_app(connection.app))
            state[_NEW_ID] = self.generate_session_id()
        elif scope_session is not Empty:
            if not scope_session and not connection.cookies.get(self.config.key):
                return  # an anonymous visitor: nothing to keep, no cookie
            if scope_session and self.serialize_data(scope_session, connection.scope) == state.get(
                _LOADED
            ):
                self._refresh_cookie(message, connection)
                return
        await super().store_in_message(scope_session, message, connection)

    def _refresh_cookie(self, message: Message, connection: ASGIConnection) -> None:
        params = dict(
            extract_dataclass_items(self.config, exclude_none=True, include=Cookie.__dict__.keys())
        )
        MutableScopeHeaders.from_message(message).add(
            "Set-Cookie",
            Cookie(value=self.get_session_id(connection), key=self.config.key, **params).to_header(
                header=""
            ),
        )

    def get_session_id(self, connection: ASGIConnection) -> str:
        return connection.scope.get("state", {}).get(_NEW_ID) or super().get_session_id(connection)


@dataclass
class RotatingSessionConfig(ServerSideSessionConfig):
    _backend_class = RotatingSessionBackend
