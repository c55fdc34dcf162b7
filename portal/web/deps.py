"""Dependencies shared by controllers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from litestar import Request
from litestar.di import NamedDependency
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.settings import Settings


async def provide_session(request: Request[Any, Any, Any]) -> AsyncIterator[AsyncSession]:
    """A database session for one request; domain functions commit, we only close."""
    async with request.app.state.db.session() as session:
        yield session


def provide_settings(request: Request[Any, Any, Any]) -> Settings:
    return request.app.state.settings


DbSession = NamedDependency[AsyncSession]
