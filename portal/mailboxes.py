"""One e-mail address, one mailbox: the check every address that enters the portal passes.

``victim@example.com, attacker@evil.example`` is a list of two mailboxes to an SMTP server
(and ``Sam <sam@example.com>`` a display name with one); an address the portal keeps or
sends to must be exactly one bare mailbox. email-validator does the parsing (RFC 5321/5322,
internationalised names), without DNS lookups. This module imports nothing of the portal,
so every layer may use it.
"""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

MAX_ADDRESS_CHARS = 320


class NotOneMailbox(ValueError):
    """The text is not exactly one e-mail address; the message says why."""


def one_mailbox(value: str) -> str:
    """The address, normalised (trimmed, lower case); ``NotOneMailbox`` if it is not one."""
    text = value.strip()
    if not text or len(text) > MAX_ADDRESS_CHARS:
        raise NotOneMailbox(f"must be one e-mail address of at most {MAX_ADDRESS_CHARS} characters")
    try:
        checked = validate_email(text, check_deliverability=False, globally_deliverable=False)
    except EmailNotValidError as exc:
        raise NotOneMailbox(f"must be one e-mail address ({exc})") from None
    return checked.normalized.lower()


def is_one_mailbox(value: str) -> bool:
    try:
        one_mailbox(value)
    except NotOneMailbox:
        return False
    return True
