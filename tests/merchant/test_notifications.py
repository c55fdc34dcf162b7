"""Shopper e-mail wording: a merchant's saved text is what the next shopper gets, a bad
draft is refused with the line and changes nothing, the preview saves nothing, the HTML is
escaped and sandboxed, and every save and reset is in the audit trail."""

from __future__ import annotations

import html as html_lib
import re

from sqlmodel import select

from portal.models import MailMessage
from portal.models.audit import AuditEvent
from portal.models.merchant import NotificationTemplate
from portal.models.outbox import OutboxMessage
from portal.notify.emails import TEMPLATES_DIR, render_email
from portal.notify.overrides import CATALOGUE, full_context, render_draft, shipped_wording
from portal.returns.create import Choice, ItemRequest
from tests.merchant.helpers import login, post
from tests.returns.builders import EMAIL, seed_shop
from tests.returns.helpers import create

EDIT = "/merchant/notifications/return_created"
GOOD = {
    "subject": "{{ store.name }} has return {{ rma }}",
    "text": 'Hello {{ name or "friend" }}, we have return {{ rma }}.\n'
    "{% for item in items %}* {{ item.title }}\n{% endfor %}"
    "Refund: {{ refund_total | money(currency) }}",
    "html": "<p>Hello {{ name }}, return <b>{{ rma }}</b> is with us.</p>",
}


async def _templates(db) -> list[NotificationTemplate]:
    async with db.session() as session:
        return list((await session.exec(select(NotificationTemplate))).all())


async def _audit(db) -> list[AuditEvent]:
    async with db.session() as session:
        query = select(AuditEvent).where(AuditEvent.entity_type == "notification_template")
        return list((await session.exec(query.order_by(AuditEvent.id))).all())


async def _return_created_mail(db, jobs, signer, number: str) -> tuple[MailMessage, str]:
    shop = await seed_shop(db, number=number)
    result = await create(
        db,
        signer,
        shop.order_id,
        [ItemRequest(shop.lines["L1"], 1, "too_small")],
        {shop.lines["L1"]: Choice("refund")},
    )
    await jobs.drain()
    async with db.session() as session:
        mails = (
            await session.exec(
                select(MailMessage).where(
                    MailMessage.template == "return_created",
                    MailMessage.return_id == result.ret.id,
                )
            )
        ).all()
        payload = (
            await session.exec(
                select(OutboxMessage.payload).where(
                    OutboxMessage.dedupe_key == f"email:return_created:{result.ret.rma}"
                )
            )
        ).one()
    # The catalogue documents (and validates against) every variable the real e-mail gets.
    assert set(payload["context"]) <= set(CATALOGUE["return_created"].sample)
    assert len(mails) == 1
    assert mails[0].to == EMAIL
    return mails[0], result.ret.rma


async def test_saved_wording_is_what_the_next_shopper_gets_and_reset_restores_it(
    client, db, jobs, signer
) -> None:
    await login(client, db)
    page = await client.get(EDIT)
    assert page.status_code == 200
    # The shipped wording is in the form, ready to edit.
    assert "Your return {{ rma }} for order {{ order_number }}" in html_lib.unescape(page.text)
    assert "Shipped wording" in page.text

    saved = await post(client, EDIT, GOOD)
    assert saved.status_code == 303, saved.text[-2000:]
    again = await client.get(saved.headers["location"])
    assert "Saved." in again.text and "Customised by mia@shop.example" in again.text
    assert "{{ store.name }} has return {{ rma }}" in html_lib.unescape(again.text)

    mail, rma = await _return_created_mail(db, jobs, signer, "1001")
    assert mail.subject == f"Demo Store has return {rma}"
    assert (
        mail.text_body
        == f"Hello Sam Shopper, we have return {rma}.\n* Classic Tee\nRefund: $19.05\n"
    )
    assert f"<p>Hello Sam Shopper, return <b>{rma}</b> is with us.</p>" in mail.html_body
    assert mail.html_body.startswith("<!doctype html>")  # the branded layout stays
    assert "Questions? Reply to this e-mail" in mail.html_body

    listing = await client.get("/merchant/notifications")
    assert "Customised" in listing.text and "Sent when the label is ready" in listing.text

    reset = await post(client, f"{EDIT}/reset", {})
    assert reset.status_code == 303
    assert "Back to the shipped wording" in (await client.get(reset.headers["location"])).text
    assert await _templates(db) == []
    mail, rma = await _return_created_mail(db, jobs, signer, "1002")
    assert mail.subject == f"Your return {rma} for order 1002"
    assert mail.text_body.startswith("Hi Sam Shopper,")

    events = await _audit(db)
    assert [(e.action, e.actor, e.data["name"]) for e in events] == [
        ("notification_customised", "mia@shop.example", "return_created"),
        ("notification_reset", "mia@shop.example", "return_created"),
    ]
    assert events[0].data["subject"] == GOOD["subject"]
    log = await client.get("/merchant/audit")
    assert "notification customised" in log.text and "notification reset" in log.text
    assert "Return confirmed" in log.text  # which e-mail, by its name in the console


async def test_a_syntax_error_is_refused_with_its_line_and_nothing_is_saved(client, db) -> None:
    await login(client, db)
    await client.get(EDIT)
    bad = {
        **GOOD,
        "text": "Hello {{ name }},\n\nYour return {{ rma }",
    }
    response = await post(client, EDIT, bad)
    assert response.status_code == 400
    assert "Line 3: unexpected &#39;}&#39;" in response.text
    assert "Not saved" in response.text
    # The merchant's draft stays in the form so nothing typed is lost.
    assert "Your return {{ rma }" in html_lib.unescape(response.text)
    assert await _templates(db) == [] and await _audit(db) == []


async def test_a_bad_draft_leaves_a_saved_override_untouched(client, db) -> None:
    await login(client, db)
    await client.get(EDIT)
    assert (await post(client, EDIT, GOOD)).status_code == 303
    for field, source, message in [
        ("subject", "Return {{ rma_number }}", "Line 1: unknown variable &#39;rma_number&#39;"),
        (
            "html",
            "<p>Hi</p>\n{{ shopper_name }}",
            "Line 2: unknown variable &#39;shopper_name&#39;",
        ),
        ("subject", "   ", "Write the subject; it can&#39;t be empty."),
        ("text", "{% for item in items %}{{ item.titel }}{% endfor %}", "has no attribute"),
    ]:
        response = await post(client, EDIT, {**GOOD, field: source})
        assert response.status_code == 400, (field, source)
        assert message in response.text, (message, response.text[-3000:])
    [row] = await _templates(db)
    assert (row.subject, row.body_html) == (GOOD["subject"], GOOD["html"])
    assert len(await _audit(db)) == 1


async def test_preview_renders_the_sample_without_saving(client, db) -> None:
    await login(client, db)
    await client.get(EDIT)
    draft = {**GOOD, "subject": "Preview for {{ name }} ({{ rma }})"}
    # Without JavaScript: the whole page comes back with the preview filled in.
    page = await post(client, f"{EDIT}/preview", draft)
    assert page.status_code == 200
    assert 'id="preview-subject">Preview for Alex Morgan (RMA-7K3QX-9M2PD)<' in page.text
    assert "Hello Alex Morgan, we have return RMA-7K3QX-9M2PD." in page.text
    assert "* Merino crew tee" in page.text and "Refund: $89.00" in page.text
    assert "<iframe" in page.text and " sandbox " in page.text
    assert 'name="subject" value="Preview for {{ name }} ({{ rma }})"' in page.text
    # With HTMX: only the preview panel.
    partial = await post(client, f"{EDIT}/preview", draft, headers={"HX-Request": "true"})
    assert partial.status_code == 200
    assert "Preview for Alex Morgan (RMA-7K3QX-9M2PD)" in partial.text
    assert "<form" not in partial.text and "<html" not in partial.text
    # A broken draft previews its problem (still 200, so htmx swaps it in).
    broken = await post(
        client, f"{EDIT}/preview", {**draft, "html": "{{ oops"}, headers={"HX-Request": "true"}
    )
    assert broken.status_code == 200 and "Line 1:" in broken.text
    assert await _templates(db) == [] and await _audit(db) == []


async def test_html_is_escaped_and_the_sandbox_refuses_python_internals(client, db) -> None:
    await login(client, db)
    await client.get(EDIT)
    draft = {**GOOD, "html": "<p>{{ '<script>alert(1)</script>' }}</p>"}
    page = await post(client, f"{EDIT}/preview", draft)
    assert page.status_code == 200
    srcdoc = html_lib.unescape(re.search(r'srcdoc="([^"]*)"', page.text).group(1))
    assert "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>" in srcdoc
    assert "<script>alert" not in srcdoc and "<script>alert" not in page.text

    for attack in ["{{ ''.__class__ }}", "{{ ''.__class__.__mro__[1].__subclasses__() }}"]:
        response = await post(client, EDIT, {**GOOD, "html": attack})
        assert response.status_code == 400, attack
        assert "that is not allowed in an e-mail template" in response.text
        assert "__class__" in html_lib.unescape(response.text)
    response = await post(client, EDIT, {**GOOD, "text": '{% include "email/base.html" %}'})
    assert response.status_code == 400
    assert "can&#39;t include, import or extend" in response.text
    assert await _templates(db) == []


HUGE = "{% set a = 'x' * 10000 %}" + "{% set a = a~a~a~a~a~a~a~a~a~a %}" * 4 + "{{ a }}"


async def test_the_preview_is_bounded_in_size_and_loops(client, db) -> None:
    """Issue 18, finding 8: a short draft that would build 100,000,000 characters, or loop
    nine million times, is refused with a clear message instead of holding the server."""
    assert len(HUGE) < 210
    await login(client, db)
    await client.get(EDIT)
    page = await post(
        client, f"{EDIT}/preview", {**GOOD, "text": HUGE}, headers={"HX-Request": "true"}
    )
    assert page.status_code == 200
    assert "longer than 200,000 characters" in page.text
    assert "x" * 1000 not in page.text
    saved = await post(client, EDIT, {**GOOD, "text": HUGE})
    assert saved.status_code == 400 and "longer than 200,000 characters" in saved.text
    assert await _templates(db) == []

    store = {"name": "Shop", "support_email": "", "logo_url": "", "brand_color": "#123456"}
    store |= {"accent_color": "#123456"}
    attacks = {
        "{% for a in range(3000) %}{% for b in range(3000) %}{% endfor %}{% endfor %}": (
            "loops run more than 10,000 times"
        ),
        "{{ 'x'|center(100000000) }}": "numbers above 1,000",
        "{{ '{:>100000000}'.format(1) }}": "field width is too large",
        "{{ '%100000000s' % 1 }}": "field width is too large",
        "{{ (['x' * 10000] * 10000)|join }}": "repeated text is too long",
        "{% for a in range(300) %}{{ 'x' * 1000 }}{% endfor %}": "longer than 200,000",
    }
    for source, message in attacks.items():
        wording = shipped_wording("return_created")
        rendered = render_draft(
            "return_created", wording.__class__(wording.subject, source, wording.html), store, ""
        )
        assert not rendered.ok and message in " ".join(rendered.errors["text"]), source
    # Ordinary loops, widths and joins still work.
    fine = "{% for a in range(50) %}{% for b in range(50) %}.{% endfor %}{% endfor %}"
    fine += "{{ '{:>5}'.format(1) }}{{ items|map(attribute='title')|join(', ') }}"
    wording = shipped_wording("return_created")
    rendered = render_draft(
        "return_created", wording.__class__(wording.subject, fine, wording.html), store, ""
    )
    assert rendered.ok, rendered.errors
    assert rendered.text.startswith("." * 2500) and "Merino crew tee, Canvas" in rendered.text


async def test_unknown_e_mail_is_not_found(client, db) -> None:
    await login(client, db)
    assert (await client.get("/merchant/notifications/welcome")).status_code == 404


async def test_only_merchants_and_admins_edit_e_mails(client, db) -> None:
    await login(client, db, "wes@shop.example", "warehouse")
    assert (await client.get("/merchant/notifications")).status_code == 403
    assert (await client.get(EDIT)).status_code == 403
    response = await post(client, EDIT, GOOD)
    assert response.status_code == 403
    assert await _templates(db) == []


async def test_admin_may_edit_e_mails(client, db) -> None:
    await login(client, db, "ada@shop.example", "admin")
    page = await client.get("/merchant/notifications")
    assert page.status_code == 200 and "Label ready" in page.text
    await client.get(EDIT)
    assert (await post(client, EDIT, GOOD)).status_code == 303
    [event] = await _audit(db)
    assert event.actor == "ada@shop.example"


async def test_wording_that_fails_on_real_data_falls_back_to_the_shipped_e_mail(
    client, db, jobs, signer
) -> None:
    await login(client, db)
    await client.get(EDIT)
    # Fine with the two sample items; the real return below has only one.
    second_item = {**GOOD, "subject": "{{ rma }}: {{ items[1].title }} and more"}
    assert (await post(client, EDIT, second_item)).status_code == 303
    mail, rma = await _return_created_mail(db, jobs, signer, "1001")
    assert mail.subject == f"Your return {rma} for order 1001"  # the shopper still hears


def test_every_shipped_e_mail_is_catalogued_and_its_wording_round_trips() -> None:
    """The edit form starts from the shipped text: saved unchanged, it says the same."""
    shipped = {
        p.stem
        for p in (TEMPLATES_DIR / "email").glob("return_*.html")
        if p.stem != "return_items_part"
    }
    assert shipped == set(CATALOGUE)
    store = {"name": "Demo Store", "brand_color": "#1f5f8b", "support_email": "s@example.com"}
    for name, spec in CATALOGUE.items():
        draft = render_draft(name, shipped_wording(name), store, "https://returns.example")
        assert draft.ok, (name, draft.errors)
        real = render_email(
            name, "a@example.com", full_context(spec, store, "https://returns.example")
        )
        assert (draft.subject, draft.text) == (real.subject, real.text), name
        assert spec.sample["name"] in draft.html and spec.description.startswith("Sent when")
