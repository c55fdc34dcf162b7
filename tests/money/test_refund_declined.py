"""Finance declines a refund: the return closes (unless another refund is still to come),
the shopper gets one e-mail with finance's message to them (never the internal reason),
and the status page says the refund was declined."""

from __future__ import annotations

from markupsafe import escape
from sqlmodel import select

from portal.models.money import Refund
from portal.models.outbox import MailMessage, OutboxMessage
from portal.models.returns import Return, ReturnLine
from portal.money.approvals import bulk_reject, reject
from portal.notify.overrides import CATALOGUE
from portal.returns.states import transition
from tests.conftest import submit_form
from tests.factories import make_user
from tests.money.fixtures import load_refund
from tests.web.test_auth import login

INTERNAL = "Suspected fraud: same card on five returns"
FOR_SHOPPER = "The tee came back stained, so we can't refund it."


async def _inspected(db, refund_id: int) -> Return:
    async with db.session() as session:
        refund = await session.get(Refund, refund_id)
        ret = await session.get(Return, refund.return_id)
        for status in ("label_issued", "received", "inspected"):
            await transition(session, ret, status, "test")
        await session.commit()
        return ret


async def _return(db, return_id: int) -> Return:
    async with db.session() as session:
        return await session.get(Return, return_id)


async def _declined_emails(db) -> tuple[list[OutboxMessage], list[MailMessage]]:
    async with db.session() as session:
        queued = (
            await session.exec(select(OutboxMessage).where(OutboxMessage.job == "send_email"))
        ).all()
        sent = (
            await session.exec(
                select(MailMessage).where(MailMessage.template == "return_refund_declined")
            )
        ).all()
    return (
        [m for m in queued if m.payload["template"] == "return_refund_declined"],
        list(sent),
    )


async def test_rejecting_closes_the_return_and_tells_the_shopper(
    db, jobs, signer, make_refund
) -> None:
    refund_id = await make_refund(4000)
    ret = await _inspected(db, refund_id)
    alice = await make_user(db, "alice@shop.example", "finance")
    async with db.session() as session:
        await reject(session, refund_id, alice, INTERNAL, shopper_message=FOR_SHOPPER)
    assert (await load_refund(db, refund_id)).status == "rejected"
    assert (await _return(db, ret.id)).status == "completed"
    queued, _ = await _declined_emails(db)
    assert len(queued) == 1
    await jobs.drain()
    _, sent = await _declined_emails(db)
    assert len(sent) == 1
    mail = sent[0]
    assert ret.rma in mail.subject
    assert FOR_SHOPPER in mail.text_body  # plain text, not HTML-escaped
    assert str(escape(FOR_SHOPPER)) in mail.html_body
    for body in (mail.text_body, mail.html_body):
        assert "fraud" not in body.lower()
        assert "$40.00" in body


async def test_without_a_message_the_shopper_is_pointed_to_support(
    db, jobs, signer, make_refund, settings
) -> None:
    refund_id = await make_refund(4000)
    ret = await _inspected(db, refund_id)
    alice = await make_user(db, "alice@shop.example", "finance")
    async with db.session() as session:
        await reject(session, refund_id, alice, INTERNAL)
    assert (await _return(db, ret.id)).status == "completed"
    await jobs.drain()
    _, sent = await _declined_emails(db)
    assert len(sent) == 1
    assert "fraud" not in sent[0].text_body.lower()
    assert "You can write to us at" in sent[0].text_body  # the support address follows


async def test_a_keep_every_item_return_closes_from_approved(db, jobs, signer, make_refund) -> None:
    refund_id = await make_refund(4000)
    async with db.session() as session:
        refund = await session.get(Refund, refund_id)
        ret = await session.get(Return, refund.return_id)
        for line in (
            await session.exec(select(ReturnLine).where(ReturnLine.return_id == ret.id))
        ).all():
            line.decision = {**line.decision, "keep_item": True}
            session.add(line)
        if ret.status != "approved":
            await transition(session, ret, "approved", "test")
        await session.commit()
    alice = await make_user(db, "alice@shop.example", "finance")
    async with db.session() as session:
        await reject(session, refund_id, alice, INTERNAL)
    assert (await _return(db, ret.id)).status == "completed"
    assert len((await _declined_emails(db))[0]) == 1


async def test_a_return_with_another_refund_pending_stays_open(
    db, jobs, signer, make_refund
) -> None:
    refund_id = await make_refund(4000)
    ret = await _inspected(db, refund_id)
    async with db.session() as session:
        session.add(
            Refund(
                return_id=ret.id,
                purpose="exchange_difference",
                amount=500,
                currency=ret.currency,
                idempotency_key=f"test-diff-{ret.id}",
            )
        )
        await session.commit()
    alice = await make_user(db, "alice@shop.example", "finance")
    async with db.session() as session:
        await reject(session, refund_id, alice, INTERNAL, shopper_message=FOR_SHOPPER)
    assert (await _return(db, ret.id)).status == "inspected"
    queued, _ = await _declined_emails(db)
    assert len(queued) == 1  # the shopper still hears about the declined refund


async def test_bulk_reject_closes_and_tells_per_refund(db, jobs, signer, make_refund) -> None:
    ids = [await make_refund(4000, number=f"81{i}") for i in range(2)]
    returns = [await _inspected(db, i) for i in ids]
    alice = await make_user(db, "alice@shop.example", "finance")
    async with db.session() as session:
        done, errors = await bulk_reject(
            session,
            [*ids, 999],
            alice,
            INTERNAL,
            shopper_message=FOR_SHOPPER,
        )
    assert done == ids and set(errors) == {999}
    assert [(await _return(db, r.id)).status for r in returns] == ["completed", "completed"]
    queued, _ = await _declined_emails(db)
    assert len(queued) == 2
    assert {m.payload["return_id"] for m in queued} == {r.id for r in returns}
    await jobs.drain()
    _, sent = await _declined_emails(db)
    assert len(sent) == 2 and all("fraud" not in m.text_body.lower() for m in sent)


async def test_finance_and_shopper_pages_show_the_decline(
    client, db, jobs, signer, make_refund
) -> None:
    refund_id = await make_refund(4000)
    ret = await _inspected(db, refund_id)
    await make_user(db, "fin@shop.example", "finance")
    assert (await login(client, "fin@shop.example")).status_code == 303
    page = f"/finance/refunds/{refund_id}"
    assert 'name="shopper_message"' in (await client.get(page)).text
    done = await submit_form(
        client,
        page,
        f"{page}/reject",
        {"reason": INTERNAL, "shopper_message": FOR_SHOPPER},
        follow_redirects=True,
    )
    assert "rejected" in done.text
    assert INTERNAL in done.text  # finance sees its own reason …
    assert "Message sent to the shopper" in done.text and "stained" in done.text
    assert (await _return(db, ret.id)).status == "completed"
    async with db.session() as session:
        order_id = (await session.get(Return, ret.id)).order_id
    status = await client.get(signer.path(order_id, ret.rma))
    assert status.status_code == 200
    assert "was declined" in status.text and "stained" in status.text
    assert "goes back to your original payment" not in status.text
    assert "fraud" not in status.text.lower()


async def test_bulk_reject_form(client, db, signer, make_refund) -> None:
    ids = [await make_refund(1000, number=f"82{i}") for i in range(2)]
    await make_user(db, "fin@shop.example", "finance")
    assert (await login(client, "fin@shop.example")).status_code == 303
    no_reason = await submit_form(
        client,
        "/finance/",
        "/finance/refunds/bulk-reject",
        {"refund_id": [str(i) for i in ids]},
        follow_redirects=True,
    )
    assert "Say why" in no_reason.text
    done = await submit_form(
        client,
        "/finance/",
        "/finance/refunds/bulk-reject",
        {"refund_id": [str(i) for i in ids], "reason": INTERNAL, "shopper_message": ""},
        follow_redirects=True,
    )
    assert "2 rejected" in done.text
    assert [(await load_refund(db, i)).status for i in ids] == ["rejected", "rejected"]


def test_the_e_mail_is_in_the_catalogue() -> None:
    spec = CATALOGUE["return_refund_declined"]
    assert spec.description and spec.sample["shopper_message"]
