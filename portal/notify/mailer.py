"""The ``Mailer`` protocol and its two products: SMTP, and the local mailbox of the demo.

Every message is recorded in ``mail_messages`` under the outbox key that caused it, so a
job that runs twice sends once (and the mailbox doubles as a sent-mail log with SMTP).
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol
from urllib.parse import unquote, urlparse

import aiosmtplib
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from portal.db import Database
from portal.mailboxes import NotOneMailbox, one_mailbox
from portal.models.outbox import MailMessage


@dataclass(frozen=True)
class Email:
    to: str
    subject: str
    text: str
    html: str
    template: str = ""
    return_id: int | None = None


class BadRecipient(NotOneMailbox):
    """The recipient is not exactly one mailbox: nothing is sent, and retrying will not help."""

    retryable = False


class Mailer(Protocol):
    async def send(self, email: Email, key: str) -> bool:
        """Send once per ``key``; True if sent now, False if it had been sent before."""
        ...


async def _already_sent(db: Database, key: str) -> bool:
    async with db.session() as session:
        return (
            await session.exec(select(MailMessage.id).where(MailMessage.dedupe_key == key))
        ).first() is not None


async def _record(db: Database, email: Email, key: str, transport: str) -> bool:
    async with db.session() as session:
        session.add(
            MailMessage(
                to=email.to,
                subject=email.subject,
                text_body=email.text,
                html_body=email.html,
                template=email.template,
                return_id=email.return_id,
                dedupe_key=key,
                transport=transport,
            )
        )
        try:
            await session.commit()
        except IntegrityError:
            return False
    return True


class MailboxMailer:
    """The embedded default: messages are kept in the database and read in the browser."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def send(self, email: Email, key: str) -> bool:
        return await _record(self.db, email, key, "mailbox")


class SmtpMailer:
    """Sends through SMTP (aiosmtplib); ``smtp://user:pass@host:587`` uses STARTTLS,
    ``smtps://`` implicit TLS."""

    def __init__(self, db: Database, url: str, sender: str) -> None:
        self.db = db
        self.sender = sender
        parsed = urlparse(url)
        self.host = parsed.hostname or "localhost"
        self.use_tls = parsed.scheme == "smtps"
        # STARTTLS unless the URL says ?starttls=no (a relay on the same host, say).
        self.start_tls = "starttls=no" not in (parsed.query or "")
        self.port = parsed.port or (465 if self.use_tls else 587)
        self.username = unquote(parsed.username) if parsed.username else None
        self.password = unquote(parsed.password) if parsed.password else None

    async def send(self, email: Email, key: str) -> bool:
        try:  # defence in depth: every address was checked when it entered the portal
            recipient = one_mailbox(email.to)
        except NotOneMailbox as exc:
            raise BadRecipient(f"not sending to {email.to!r}: {exc}") from None
        if await _already_sent(self.db, key):
            return False
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = email.to
        message["Subject"] = email.subject
        message["Message-ID"] = f"<{key.replace(':', '.')}@returns-portal>"
        message.set_content(email.text)
        message.add_alternative(email.html, subtype="html")
        await aiosmtplib.send(
            message,
            recipients=[recipient],  # the envelope: exactly the one mailbox checked above
            hostname=self.host,
            port=self.port,
            username=self.username,
            password=self.password,
            use_tls=self.use_tls,
            start_tls=False if self.use_tls else self.start_tls,
            timeout=30,
        )
        await _record(self.db, email, key, "smtp")
        return True
