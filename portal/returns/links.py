"""Signed, expiring links that open a shopper's order session from an e-mail.

A token is ``base64url(json claims) "." base64url(HMAC-SHA256)``. The HMAC key is derived
from the settings secret with a purpose label, so a token can never be confused with a
CSRF token or anything else signed by the same secret. Verification compares in constant
time and checks the expiry; any change to the token makes it invalid.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from portal.errors import Invalid
from portal.models.base import utcnow

DEFAULT_TTL = timedelta(days=30)
_PURPOSE = b"portal.shop-link.v1"


class LinkError(Invalid):
    """The link cannot be used; ``expired`` tells a stale link from a forged one."""

    def __init__(self, message: str, *, expired: bool = False) -> None:
        super().__init__(message)
        self.expired = expired


@dataclass(frozen=True, slots=True)
class LinkClaims:
    order_id: int
    rma: str | None
    expires_at: datetime


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class LinkSigner:
    """Makes and reads shopper links; built from the settings secret by the caller."""

    secret: str
    ttl: timedelta = DEFAULT_TTL

    def _key(self) -> bytes:
        return hmac.new(self.secret.encode(), _PURPOSE, hashlib.sha256).digest()

    def _mac(self, body: str) -> str:
        return _b64(hmac.new(self._key(), body.encode("ascii"), hashlib.sha256).digest())

    def token(self, order_id: int, rma: str | None = None, now: datetime | None = None) -> str:
        expires = int(((now or utcnow()) + self.ttl).timestamp())
        claims: dict[str, int | str] = {"o": order_id, "x": expires}
        if rma:
            claims["r"] = rma
        body = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
        return f"{body}.{self._mac(body)}"

    def path(self, order_id: int, rma: str | None = None, now: datetime | None = None) -> str:
        """The site-relative link an e-mail puts after the base URL."""
        return f"/link/{self.token(order_id, rma, now)}"

    def read(self, token: str, now: datetime | None = None) -> LinkClaims:
        """The claims of a genuine, unexpired token; raises LinkError otherwise."""
        body, sep, mac = token.partition(".")
        if not sep or not body or not mac or len(token) > 512 or not token.isascii():
            raise LinkError("This link is not complete or has been changed.")
        if not hmac.compare_digest(self._mac(body).encode(), mac.encode()):
            raise LinkError("This link is not complete or has been changed.")
        try:
            claims = json.loads(_unb64(body))
            order_id = int(claims["o"])
            expires = datetime.fromtimestamp(int(claims["x"]), UTC)
            rma = claims.get("r")
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise LinkError("This link is not complete or has been changed.") from None
        if expires <= (now or utcnow()):
            raise LinkError("This link has expired.", expired=True)
        return LinkClaims(order_id=order_id, rma=str(rma) if rma else None, expires_at=expires)
