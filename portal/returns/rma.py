"""RMA numbers: short, unambiguous when read aloud or typed, and hard to guess.

Ten symbols of Crockford's base 32 (no I, L, O or U) carry 50 random bits, shown as
``RMA-XXXXX-XXXXX``. Typed input is forgiving: case, spaces, dashes and the look-alikes
O→0 and I/L→1 are normalised before lookup.
"""

from __future__ import annotations

import re
import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_BODY = re.compile(r"^[0-9A-HJKMNP-TV-Z]{10}$")


def generate_rma() -> str:
    body = "".join(secrets.choice(ALPHABET) for _ in range(10))
    return f"RMA-{body[:5]}-{body[5:]}"


def normalise_rma(value: str) -> str | None:
    """The canonical form of a typed RMA number, or None when it cannot be one."""
    text = re.sub(r"[\s\-_]", "", value.upper())
    text = text.removeprefix("RMA")
    text = text.translate(str.maketrans("OIL", "011"))
    if not _BODY.match(text):
        return None
    return f"RMA-{text[:5]}-{text[5:]}"
