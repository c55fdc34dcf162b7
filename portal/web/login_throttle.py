"""Per-account login back-off (issue 18, finding 3), besides the per-address limit.

After ``free`` failed passwords for one account, each further try waits an exponentially
growing delay (1 s, 2 s, 4 s, … capped at ``cap`` seconds): guessing from many addresses gets
nowhere, yet a stranger can keep staff out for at most a few minutes at a time. Tries made
during the wait are refused without checking the password and without growing the delay.
The counters live in a Litestar store (Redis or the database), never in process memory.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass
from typing import Any

from litestar import Request

from portal.accounts import AccountError, normalise_email

STORE = "login_failures"
FORGET_AFTER = 3600  # failures are forgotten an hour after the last one


def _now() -> float:
    return time.time()


@dataclass(frozen=True)
class AccountThrottle:
    free: int = 5
    cap: int = 300

    @staticmethod
    def _key(email: str) -> str:
        try:
            email = normalise_email(email)
        except AccountError:
            email = email.strip().lower()
        return hashlib.sha256(email.encode()).hexdigest()[:32]

    @staticmethod
    def _store(request: Request[Any, Any, Any]) -> Any:
        return request.app.stores.get(STORE)

    async def retry_after(self, request: Request[Any, Any, Any], email: str) -> int | None:
        """Seconds this account must still wait before a password is checked, or None."""
        raw = await self._store(request).get(self._key(email))
        if not raw:
            return None
        locked_until = float(json.loads(raw).get("locked_until", 0))
        wait = locked_until - _now()
        return max(1, math.ceil(wait)) if wait > 0 else None

    async def failed(self, request: Request[Any, Any, Any], email: str) -> None:
        store = self._store(request)
        key = self._key(email)
        raw = await store.get(key)
        failures = int(json.loads(raw).get("failures", 0)) + 1 if raw else 1
        locked_until = 0.0
        if failures >= self.free:
            locked_until = _now() + min(self.cap, 2 ** (failures - self.free))
        await store.set(
            key,
            json.dumps({"failures": failures, "locked_until": locked_until}),
            expires_in=FORGET_AFTER,
        )

    async def succeeded(self, request: Request[Any, Any, Any], email: str) -> None:
        await self._store(request).delete(self._key(email))
