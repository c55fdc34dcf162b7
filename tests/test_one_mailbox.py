"""An e-mail address is one mailbox wherever it enters: the orders API, order imports, staff
invites; and the SMTP mailer sends to exactly one checked address (defence in depth)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlmodel import func, select

from portal.mailboxes import NotOneMailbox, one_mailbox
from portal.models import MailMessage, Order, StaffUser
from portal.notify.mailer import BadRecipient, Email, SmtpMailer
from tests.factories import make_token, order_payload
from tests.jobs.test_smtp import smtp_server  # noqa: F401 (a fixture)
from tests.merchant.helpers import login, post
from tests.test_import_and_cli import GOOD_CSV, cli, counts  # noqa: F401 (cli is a fixture)

TWO = "victim@example.com, attacker@evil.example"


@pytest.mark.parametrize(
    "text", [TWO, "Sam <sam@example.com>", "sam@example.com\r\nBcc: x@evil.example", "", "sam"]
)
def test_anything_but_one_bare_mailbox_is_refused(text: str) -> None:
    with pytest.raises(NotOneMailbox):
        one_mailbox(text)


def test_one_mailbox_is_trimmed_and_lower_cased() -> None:
    assert one_mailbox("  Sam@Example.COM ") == "sam@example.com"


async def test_orders_api_refuses_two_addresses_per_field(client, db) -> None:
    headers = {"Authorization": f"Bearer {await make_token(db)}"}
    payload = order_payload(email=TWO, customer={"email": TWO})
    response = await client.post("/api/v1/orders", json=payload, headers=headers)
    assert response.status_code == 422, response.text
    errors = {e["field"]: e["message"] for e in response.json()["errors"]}
    assert errors["email"].startswith("must be one e-mail address")
    assert errors["customer.email"].startswith("must be one e-mail address")
    async with db.session() as session:
        assert (await session.exec(select(func.count()).select_from(Order))).one() == 0


def test_csv_and_json_imports_name_the_row_with_two_addresses(
    cli,  # noqa: F811
    settings,
    tmp_path: Path,
) -> None:
    rows = GOOD_CSV.strip().splitlines()
    rows[3] = rows[3].replace("bo@example.com", f'"{TWO}"')  # row 4: order 1002
    path = tmp_path / "orders.csv"
    path.write_text("\n".join(rows) + "\n")
    result = cli("orders", "import", str(path))
    assert result.exit_code != 0
    assert "row 4, email: must be one e-mail address (" in result.output
    assert "nothing was imported" in result.output
    as_json = tmp_path / "orders.json"
    as_json.write_text(json.dumps([order_payload("2001"), order_payload("2002", email=TWO)]))
    result = cli("orders", "import", str(as_json))
    assert result.exit_code != 0
    assert "row 2, email: must be one e-mail address" in result.output
    assert counts(settings.database_url) == (0, 0)


async def test_a_staff_invite_for_two_addresses_is_refused(client, db) -> None:
    await login(client, db)
    await client.get("/merchant/users")
    response = await post(client, "/merchant/users/invite", {"email": TWO, "roles": ["finance"]})
    assert response.status_code == 400
    assert "is not a valid e-mail address" in response.text
    async with db.session() as session:
        assert (await session.exec(select(StaffUser.email))).all() == ["mia@shop.example"]


async def test_smtp_mailer_refuses_a_recipient_that_is_not_one_mailbox(
    db,
    smtp_server,  # noqa: F811
) -> None:
    inbox, port = smtp_server
    mailer = SmtpMailer(db, f"smtp://127.0.0.1:{port}?starttls=no", "returns@shop.example")
    message = Email(to=TWO, subject="Your link", text="secret link", html="<p>secret link</p>")
    with pytest.raises(BadRecipient) as refused:
        await mailer.send(message, key="outbox:9")
    assert refused.value.retryable is False  # the outbox marks the row dead, no retries
    assert inbox.messages == []
    async with db.session() as session:
        assert (await session.exec(select(MailMessage))).all() == []
