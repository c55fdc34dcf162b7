"""Logging staff in and reading the editor's hidden fields, as a browser would."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from tests.conftest import csrf_token, submit_form
from tests.factories import PASSWORD, make_user


async def login(client: Any, db: Any, email: str = "mia@shop.example", *roles: str) -> Any:
    user = await make_user(db, email, *(roles or ("merchant",)))
    response = await submit_form(
        client, "/login", "/login", {"email": email, "password": PASSWORD, "next": ""}
    )
    assert response.status_code < 400
    return user


def base_version(html: str) -> str:
    found = re.search(r'name="base_version" value="(\d*)"', html)
    assert found, "the editor has no base_version field"
    return found.group(1)


async def post(client: Any, path: str, data: dict[str, Any], **kw: Any) -> Any:
    """Post a form with the CSRF token the page set."""
    kw.setdefault("follow_redirects", False)
    return await client.post(path, data={**data, "_csrf_token": csrf_token(client)}, **kw)


@asynccontextmanager
async def another_browser(client: Any) -> AsyncIterator[Any]:
    """The same app from a second browser: a fresh cookie jar, restored afterwards.

    (A second test client would run the app on another event loop, which asyncpg refuses.)
    """
    saved = client.cookies
    client.cookies = httpx.Cookies()
    try:
        yield client
    finally:
        client.cookies = saved
