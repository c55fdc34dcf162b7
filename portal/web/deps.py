"""Dependencies shared by controllers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from litestar import Request
from litestar.di import NamedDependency
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.errors import DomainError
from portal.web.error_views import prepare_error_view


async def provide_session(request: Request[Any, Any, Any]) -> AsyncIterator[AsyncSession]:
    """A database session for one request; domain functions commit, we only close.

    A domain error leaving the controller rolls the transaction back here, once for every
    route; the page the controller declared for it is then built (see ``error_views``)."""
    async with request.app.state.db.session() as session:
        try:
            yield session
        except DomainError as exc:
            await session.rollback()
            await prepare_error_view(request, session, exc)
            raise


DbSession = NamedDependency[AsyncSession]
