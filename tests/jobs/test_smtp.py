"""The SMTP mailer against a real SMTP server on loopback (aiosmtpd)."""

from __future__ import annotations

import email
from email.message import Message

import pytest
from aiosmtpd.controller import Controller
from sqlmodel import select

from portal.models import MailMessage
from portal.notify.mailer import Email, SmtpMailer
from tests.support.live_server import free_port


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def smtp_server():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield inbox, controller.port
    controller.stop()


async def test_smtp_sends_once_per_key_with_both_parts(db, smtp_server) -> None:
    inbox, port = smtp_server
    # The test server speaks plain SMTP, as a relay on the same host may.
    mailer = SmtpMailer(db, f"smtp://127.0.0.1:{port}?starttls=no", "returns@shop.example")
    message = Email(
        to="sam@example.com",
        subject="Your return label",
        text="Plain words",
        html="<p>HTML words</p>",
        template="return_label_ready",
    )
    assert await mailer.send(message, key="outbox:7") is True
    assert await mailer.send(message, key="outbox:7") is False  # a retried job
    assert len(inbox.messages) == 1
    received = inbox.messages[0]
    assert received["Subject"] == "Your return label"
    assert received["From"] == "returns@shop.example" and received["To"] == "sam@example.com"
    parts = {
        part.get_content_type(): part.get_payload(decode=True).decode()
        for part in received.walk()
        if not part.is_multipart()
    }
    assert "Plain words" in parts["text/plain"] and "HTML words" in parts["text/html"]
    async with db.session() as session:
        logged = (await session.exec(select(MailMessage))).all()
    assert [(m.to, m.transport) for m in logged] == [("sam@example.com", "smtp")]
