"""Store credit issued at approval (policy ``store_credit: {issue: instant}``), and taken
back at inspection, cancellation and expiry when it turns out not to be due.

The default test policy issues credit instantly: a tee (2500) taken as store credit earns
2750 with the 10% bonus. Assertions are on the ledger, the audit trail and sent e-mails.
"""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from portal.db import Database
from portal.models import AuditEvent, MailMessage, Return, StoreCreditCode, StoreCreditEntry
from portal.models.base import utcnow
from portal.money.credit import balance, redeem
from portal.returns.create import Choice, ItemRequest
from portal.returns.lifecycle import approve_return, cancel_return
from portal.returns.timelines import expire_unshipped
from tests.returns.builders import DEFAULT_POLICY, seed_shop
from tests.returns.helpers import create
from tests.warehouse.test_receiving import finish, grade, scan

ON_RECEIPT_POLICY = DEFAULT_POLICY.replace("issue: instant", "issue: on_receipt")
assert ON_RECEIPT_POLICY != DEFAULT_POLICY
PER_TEE = 2750  # 2500 + 10% bonus
TEE, TEE_BONUS = 2500, 250  # on the ledger: an issue entry and a bonus entry


def issued(tees: int) -> list[tuple[str, int]]:
    """The ledger entries of credit issued for ``tees`` tees (the bonus on its own row)."""
    return [("issue", tees * TEE), ("bonus", tees * TEE_BONUS)]


async def entries(db: Database, return_id: int) -> list[tuple[str, int]]:
    async with db.session() as session:
        rows = (
            await session.exec(
                select(StoreCreditEntry)
                .join(StoreCreditCode, StoreCreditCode.id == StoreCreditEntry.code_id)
                .where(
                    StoreCreditCode.id.in_(  # type: ignore[union-attr]
                        select(StoreCreditEntry.code_id).where(
                            StoreCreditEntry.return_id == return_id
                        )
                    )
                )
                .order_by(StoreCreditEntry.id)
            )
        ).all()
    return [(e.kind, e.amount) for e in rows]


async def code_for(db: Database, return_id: int) -> StoreCreditCode:
    async with db.session() as session:
        issue = (
            await session.exec(
                select(StoreCreditEntry).where(
                    StoreCreditEntry.return_id == return_id, StoreCreditEntry.kind == "issue"
                )
            )
        ).one()
        return await session.get(StoreCreditCode, issue.code_id)


async def left_on(db: Database, code: StoreCreditCode) -> int:
    async with db.session() as session:
        return await balance(session, code.id)


async def spend(db: Database, code: StoreCreditCode, amount: int) -> None:
    async with db.session() as session:
        await redeem(session, code.code, amount, key=f"order-{code.id}-{amount}", actor="store")


async def mail(db: Database, template: str, return_id: int) -> MailMessage:
    async with db.session() as session:
        return (
            await session.exec(
                select(MailMessage).where(
                    MailMessage.template == template, MailMessage.return_id == return_id
                )
            )
        ).one()


async def return_events(db: Database, return_id: int, action: str) -> list[AuditEvent]:
    async with db.session() as session:
        return list(
            (
                await session.exec(
                    select(AuditEvent).where(
                        AuditEvent.entity_type == "return",
                        AuditEvent.entity_id == return_id,
                        AuditEvent.action == action,
                    )
                )
            ).all()
        )


async def test_instant_credit_is_issued_at_auto_approval_and_spendable(db, shipped, jobs) -> None:
    s = await shipped({"L1": (2, "store_credit")})
    assert s.ret.store_credit_total == 2 * PER_TEE
    code = await code_for(db, s.ret.id)
    assert await entries(db, s.ret.id) == issued(2)
    assert code.expires_at is not None  # the policy's expires_days
    await spend(db, code, 1000)  # spendable before the parcel has even moved
    assert await left_on(db, code) == 2 * PER_TEE - 1000
    created = await mail(db, "return_created", s.ret.id)
    assert code.code in created.text_body and code.code in created.html_body
    assert "ready to spend now" in created.text_body
    [event] = await return_events(db, s.ret.id, "store_credit_issued")
    assert event.data["amount"] == 2 * PER_TEE


async def test_a_reviewed_return_gets_its_credit_when_approved(db, signer, jobs) -> None:
    shop = await seed_shop(db, number="7101", customer_tags=["fraud-watch"])
    tee = shop.lines["L1"]
    done = await create(
        db, signer, shop.order_id, [ItemRequest(tee, 1, "too_small")], {tee: Choice("store_credit")}
    )
    assert done.ret.status == "requested"
    assert await entries(db, done.ret.id) == []  # nothing before a person approves
    async with db.session() as session:
        await approve_return(session, done.ret.id, "user:mia@shop.example", signer)
    await jobs.drain()
    code = await code_for(db, done.ret.id)
    assert await entries(db, done.ret.id) == issued(1)
    assert await left_on(db, code) == PER_TEE
    approved = await mail(db, "return_approved", done.ret.id)
    assert code.code in approved.text_body and code.code in approved.html_body


async def test_inspection_accepting_everything_issues_nothing_more(db, shipped, station, signer):
    s = await shipped({"L1": (2, "store_credit")})
    code = await code_for(db, s.ret.id)
    await scan(db, s.ret.rma, station, signer)
    await grade(db, s.lines[0].id, station, received_quantity="2")
    outcome = await finish(db, s.ret.id, station, signer)
    assert outcome.credit_already_issued and outcome.credit_code == code.code
    assert outcome.credit_amount == 2 * PER_TEE
    assert (outcome.credit_reversed, outcome.credit_uncollectable) == (0, 0)
    assert outcome.completed
    assert await entries(db, s.ret.id) == issued(2)
    assert await left_on(db, code) == 2 * PER_TEE


async def test_inspection_takes_back_the_share_of_what_was_not_accepted(
    db, shipped, station, signer, jobs
) -> None:
    s = await shipped({"L1": (2, "store_credit"), "L2": (1, "store_credit")})
    tee, scarf = s.lines
    issued = tee.store_credit_amount + scarf.store_credit_amount
    assert s.ret.store_credit_total == issued
    code = await code_for(db, s.ret.id)
    await scan(db, s.ret.rma, station, signer)
    await grade(db, tee.id, station, received_quantity="2")
    await grade(
        db,
        scarf.id,
        station,
        received_quantity="1",
        condition="used",
        accepted="no",
        disposition="dispose",
        note="The scarf has been worn.",
    )
    outcome = await finish(db, s.ret.id, station, signer)
    assert outcome.credit_amount == tee.store_credit_amount
    assert outcome.credit_reversed == scarf.store_credit_amount
    assert outcome.credit_uncollectable == 0
    scarf_paid = 6900 - 1380
    assert await entries(db, s.ret.id) == [
        ("issue", 2 * TEE + scarf_paid),
        ("bonus", 2 * TEE_BONUS + scarf_paid // 10),
        ("reverse", -scarf.store_credit_amount),
    ]
    assert await left_on(db, code) == tee.store_credit_amount
    [event] = await return_events(db, s.ret.id, "store_credit_reversed")
    assert event.data["reversed"] == scarf.store_credit_amount
    assert await return_events(db, s.ret.id, "store_credit_uncollectable") == []
    await jobs.drain()
    inspected = await mail(db, "return_inspected", s.ret.id)
    assert "withdrawn $" in inspected.text_body
    assert f"{scarf.store_credit_amount / 100:.2f}" in inspected.text_body


async def test_a_partial_arrival_takes_back_the_missing_units(db, shipped, station, signer):
    s = await shipped({"L1": (2, "store_credit")})
    code = await code_for(db, s.ret.id)
    await scan(db, s.ret.rma, station, signer)
    await grade(db, s.lines[0].id, station, received_quantity="1")
    outcome = await finish(db, s.ret.id, station, signer)
    assert outcome.credit_amount == PER_TEE and outcome.credit_reversed == PER_TEE
    assert await left_on(db, code) == PER_TEE


async def test_credit_already_spent_is_recorded_not_driven_negative(
    db, shipped, station, signer, jobs
) -> None:
    s = await shipped({"L1": (2, "store_credit")})
    code = await code_for(db, s.ret.id)
    await spend(db, code, 2 * PER_TEE - 500)  # the shopper spent all but 5.00
    await scan(db, s.ret.rma, station, signer)
    await grade(
        db,
        s.lines[0].id,
        station,
        received_quantity="2",
        condition="damaged",
        accepted="no",
        disposition="dispose",
        note="Both tees are torn.",
    )
    outcome = await finish(db, s.ret.id, station, signer)
    assert outcome.credit_amount == 0
    assert (outcome.credit_reversed, outcome.credit_uncollectable) == (500, 2 * PER_TEE - 500)
    assert await entries(db, s.ret.id) == [
        *issued(2),
        ("redeem", -(2 * PER_TEE - 500)),
        ("reverse", -500),
    ]
    assert await left_on(db, code) == 0
    [event] = await return_events(db, s.ret.id, "store_credit_uncollectable")
    assert event.data["amount"] == 2 * PER_TEE - 500
    assert code.code in event.reason
    await jobs.drain()
    inspected = await mail(db, "return_inspected", s.ret.id)
    assert "withdrawn $5.00" in inspected.text_body
    assert "had already been spent" in inspected.text_body


async def test_cancelling_takes_back_the_unspent_credit(db, shipped, signer, jobs) -> None:
    s = await shipped({"L1": (2, "store_credit")})
    code = await code_for(db, s.ret.id)
    await spend(db, code, 1000)
    async with db.session() as session:
        await cancel_return(session, s.ret.id, "shopper", signer)
    assert await entries(db, s.ret.id) == [
        *issued(2),
        ("redeem", -1000),
        ("reverse", -(2 * PER_TEE - 1000)),
    ]
    assert await left_on(db, code) == 0
    [event] = await return_events(db, s.ret.id, "store_credit_uncollectable")
    assert event.data["amount"] == 1000
    await jobs.drain()
    cancelled = await mail(db, "return_cancelled", s.ret.id)
    assert f"taken back the ${(2 * PER_TEE - 1000) / 100:.2f}" in cancelled.text_body
    assert "$10.00 of the store credit" in cancelled.text_body


async def test_expiry_takes_back_the_unspent_credit(db, shipped, signer, jobs) -> None:
    s = await shipped({"L1": (1, "store_credit")})
    code = await code_for(db, s.ret.id)
    expired = await expire_unshipped(db, utcnow() + timedelta(days=40), signer)
    assert expired == [s.ret.rma]
    async with db.session() as session:
        assert (await session.get(Return, s.ret.id)).status == "expired"
    assert await entries(db, s.ret.id) == [*issued(1), ("reverse", -PER_TEE)]
    assert await left_on(db, code) == 0
    assert await return_events(db, s.ret.id, "store_credit_uncollectable") == []
    await jobs.drain()
    assert "taken back" in (await mail(db, "return_expired", s.ret.id)).text_body


async def test_on_receipt_policy_issues_only_after_inspection(
    db, shipped, station, signer, jobs
) -> None:
    s = await shipped({"L1": (2, "store_credit")}, policy_text=ON_RECEIPT_POLICY)
    assert await entries(db, s.ret.id) == []
    assert "ready to spend now" not in (await mail(db, "return_created", s.ret.id)).text_body
    await scan(db, s.ret.rma, station, signer)
    await grade(db, s.lines[0].id, station, received_quantity="1")
    outcome = await finish(db, s.ret.id, station, signer)
    assert not outcome.credit_already_issued and outcome.credit_reversed == 0
    assert outcome.credit_amount == PER_TEE
    assert await entries(db, s.ret.id) == issued(1)
    [event] = await return_events(db, s.ret.id, "store_credit_issued")  # at inspection
    assert (event.data["amount"], event.data["bonus"], event.data["when"]) == (
        PER_TEE,
        TEE_BONUS,
        "inspection",
    )


async def test_on_receipt_cancellation_touches_no_credit(db, shipped, signer) -> None:
    s = await shipped({"L1": (1, "store_credit")}, policy_text=ON_RECEIPT_POLICY)
    async with db.session() as session:
        await cancel_return(session, s.ret.id, "shopper", signer)
    assert await entries(db, s.ret.id) == []
    assert await return_events(db, s.ret.id, "store_credit_reversed") == []
