"""The local mailbox shows what shoppers were sent, to merchants only, HTML safely boxed."""

from __future__ import annotations

from portal.models import MailMessage
from tests.conftest import submit_form
from tests.factories import PASSWORD, make_user


async def login(client, db, role: str) -> None:
    await make_user(db, f"{role}@shop.example", role)
    await submit_form(
        client,
        "/login",
        "/login",
        {"email": f"{role}@shop.example", "password": PASSWORD, "next": ""},
    )


async def test_merchant_reads_sent_mail_with_html_sandboxed(client, db) -> None:
    async with db.session() as session:
        for i, to in enumerate(["ann@example.com", "bo@example.com"]):
            session.add(
                MailMessage(
                    to=to,
                    subject=f"Your return R-{i}",
                    text_body=f"text {i}",
                    html_body=f"<p>Hi</p><script>alert({i})</script>",
                    dedupe_key=f"k{i}",
                )
            )
        await session.commit()
    await login(client, db, "merchant")
    page = await client.get("/merchant/mailbox")
    assert "Your return R-0" in page.text and "Your return R-1" in page.text
    filtered = await client.get("/merchant/mailbox", params={"to": "ann@example.com"})
    assert "R-0" in filtered.text and "R-1" not in filtered.text
    message = await client.get("/merchant/mailbox/1")
    assert message.status_code == 200
    assert "<iframe" in message.text and "sandbox" in message.text
    assert "<script>alert" not in message.text  # escaped into srcdoc, never live
    assert (await client.get("/merchant/mailbox/99")).status_code == 404


async def test_warehouse_staff_cannot_read_the_mailbox(client, db) -> None:
    await login(client, db, "warehouse")
    assert (await client.get("/merchant/mailbox")).status_code == 403
