"""Reading a JSON request body for the API: anything unreadable is the sender's error.

``json.loads`` raises ``RecursionError`` (not ``ValueError``) for structures nested deeper
than Python's recursion limit, e.g. ``[[[[…]]]]`` 100,000 deep; that is bad input too.
"""

from __future__ import annotations

import json
from typing import Any

from litestar import Request


class UnreadableBody(ValueError):
    """The body is not JSON this API can read; the message says why."""


async def json_body(request: Request[Any, Any, Any]) -> Any:
    """The parsed body; ``UnreadableBody`` for invalid, too deeply nested or non-UTF-8 JSON."""
    try:
        return json.loads(await request.body())
    except RecursionError:
        raise UnreadableBody("The body is nested too deeply.") from None
    except ValueError:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise UnreadableBody("The body is not valid JSON.") from None
