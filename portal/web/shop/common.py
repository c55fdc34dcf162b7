"""What every shopper page shares: the order-scoped session, the draft return kept in it,
lookup rate limits in the shared store, and access checks that answer 404 to strangers."""

from __future__ import annotations

import hashlib
import math
import time
from typing import Any

from litestar import Request
from litestar.exceptions import NotFoundException
from litestar.stores.base import Store
from litestar.stores.redis import RedisStore

from portal.models.returns import Return
from portal.returns.create import Choice, ItemRequest
from portal.returns.links import LinkSigner
from portal.settings import Settings
from portal.web.auth import load_staff_user
from portal.web.sessions import rotate_session

ORDER_KEY = "shop_order_id"
DRAFT_KEY = "shop_draft"
NOT_FOUND = "We couldn't find that page. If you followed a link from an e-mail, open it again."
LOOKUP_WINDOW = 60  # seconds; lookup limits count attempts in fixed windows this long


def settings_of(request: Request[Any, Any, Any]) -> Settings:
    return request.app.state.settings


def signer_of(request: Request[Any, Any, Any]) -> LinkSigner:
    return LinkSigner(settings_of(request).ensure_secret_key())


def _session(request: Request[Any, Any, Any]) -> dict[str, Any]:
    data = request.scope.get("session")
    return data if isinstance(data, dict) else {}


def session_order_id(request: Request[Any, Any, Any]) -> int | None:
    value = _session(request).get(ORDER_KEY)
    return value if isinstance(value, int) else None


def open_order_session(request: Request[Any, Any, Any], order_id: int) -> None:
    """Scope the session to one order, under a fresh session id (no fixation)."""
    data = {k: v for k, v in _session(request).items() if k not in (ORDER_KEY, DRAFT_KEY)}
    data[ORDER_KEY] = order_id
    request.set_session(data)
    rotate_session(request)


def close_order_session(request: Request[Any, Any, Any]) -> None:
    data = {k: v for k, v in _session(request).items() if k not in (ORDER_KEY, DRAFT_KEY)}
    request.set_session(data)


def get_draft(request: Request[Any, Any, Any], order_id: int) -> dict[str, Any] | None:
    draft = _session(request).get(DRAFT_KEY)
    if isinstance(draft, dict) and draft.get("order_id") == order_id:
        return draft
    return None


def save_draft(request: Request[Any, Any, Any], draft: dict[str, Any] | None) -> None:
    data = dict(_session(request))
    if draft is None:
        data.pop(DRAFT_KEY, None)
    else:
        data[DRAFT_KEY] = draft
    request.set_session(data)


def draft_items(draft: dict[str, Any]) -> list[ItemRequest]:
    return [
        ItemRequest(
            order_line_id=int(i["line"]),
            quantity=int(i["qty"]),
            reason=str(i["reason"]),
            comment=str(i.get("comment", "")),
            photo_media_id=i.get("photo"),
        )
        for i in draft.get("items", [])
    ]


def draft_choices(draft: dict[str, Any]) -> dict[int, Choice]:
    return {
        int(line_id): Choice(resolution=c.get("resolution", ""), variant_id=c.get("variant"))
        for line_id, c in (draft.get("choices") or {}).items()
    }


async def can_see_order(request: Request[Any, Any, Any], order_id: int | None) -> bool:
    """The order's own session, or any signed-in staff member."""
    if order_id is not None and session_order_id(request) == order_id:
        return True
    return await load_staff_user(request) is not None


async def ensure_can_see(request: Request[Any, Any, Any], ret: Return | None) -> Return:
    """Another order's return is answered exactly like one that does not exist."""
    if ret is None or not await can_see_order(request, ret.order_id):
        raise NotFoundException(NOT_FOUND)
    return ret


# --- Rate limits ---------------------------------------------------------------------


async def _count(store: Store, key: str, window: int) -> int:
    """A fixed-window counter. Redis counts atomically; the database store is close enough
    (a few concurrent attempts may slip into the same count, never many)."""
    if isinstance(store, RedisStore):
        full = store._make_key(key)
        async with store._redis.pipeline(transaction=True) as pipe:
            pipe.incr(full)
            pipe.expire(full, window * 2)
            count, _ = await pipe.execute()
        return int(count)
    raw = await store.get(key)
    count = int(raw or 0) + 1
    await store.set(key, str(count), expires_in=window * 2)
    return count


def client_key(request: Request[Any, Any, Any]) -> str:
    """Who is asking: the peer address, or behind ``PORTAL_TRUSTED_PROXIES`` the client
    they forwarded for (set in ``portal.app``)."""
    return request.client.host if request.client else "unknown"


async def lookup_allowed(request: Request[Any, Any, Any], order_number: str) -> bool:
    """Both the client and the order number get ``lookup_attempts_per_minute`` tries."""
    limit = settings_of(request).lookup_attempts_per_minute
    store = request.app.stores.get("lookup_limits")
    window = LOOKUP_WINDOW
    bucket = int(time.time() // window)
    client = client_key(request)
    number = hashlib.sha256(order_number.encode()).hexdigest()[:24]
    by_client = await _count(store, f"client:{client}:{bucket}", window)
    by_order = await _count(store, f"order:{number}:{bucket}", window)
    return by_client <= limit and by_order <= limit


def lookup_retry_after(now: float | None = None) -> int:
    """Whole seconds until the current lookup window ends (when the counters start
    again), at least 1 -- the ``Retry-After`` of a refused lookup."""
    now = time.time() if now is None else now
    window_end = (int(now // LOOKUP_WINDOW) + 1) * LOOKUP_WINDOW
    return max(1, math.ceil(window_end - now))
