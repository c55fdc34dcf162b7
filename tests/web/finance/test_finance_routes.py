"""The finance area through HTTP: queue and filters, four eyes, bulk approve, reject with a
reason, manual payment, reports and CSV, and who may enter."""

from __future__ import annotations

from datetime import timedelta

import pytest

from portal.models.base import utcnow
from portal.models.money import Refund
from tests.conftest import csrf_token, submit_form
from tests.factories import PASSWORD, make_user
from tests.money.fixtures import load_refund
from tests.web.test_auth import login


async def _as(client, db, email: str, *roles: str) -> None:
    await make_user(db, email, *roles)
    response = await login(client, email)
    assert response.status_code == 303


async def _logout(client) -> None:
    await client.post("/logout", data={"_csrf_token": csrf_token(client)})


async def test_queue_lists_and_filters(client, db, make_refund) -> None:
    small = await make_refund(1000, number="5001")
    big = await make_refund(4000, number="5002")
    async with db.session() as session:
        late = await session.get(Refund, big)
        late.due_at = utcnow() - timedelta(days=1)
        session.add(late)
        await session.commit()
    await _as(client, db, "fin@shop.example", "finance")
    page = await client.get("/finance/")
    assert page.status_code == 200
    assert (
        f'href="/finance/refunds/{small}"' in page.text
        and f'href="/finance/refunds/{big}"' in page.text
    )
    assert "OVERDUE" in page.text
    only_big = await client.get("/finance/?min_amount=2000")
    assert (
        f'/finance/refunds/{big}"' in only_big.text
        and f'/finance/refunds/{small}"' not in only_big.text
    )
    overdue = await client.get("/finance/?overdue=1")
    assert (
        f'/finance/refunds/{big}"' in overdue.text
        and f'/finance/refunds/{small}"' not in overdue.text
    )
    by_reason = await client.get("/finance/?reason=damaged")
    assert "No refunds match" in by_reason.text
    by_reason = await client.get("/finance/?reason=changed_mind&older_than_days=0")
    assert f'/finance/refunds/{small}"' in by_reason.text
    bad = await client.get("/finance/?min_amount=lots")
    assert bad.status_code == 400 and "whole number" in bad.text
    partial = await client.get("/finance/?max_amount=2000", headers={"HX-Request": "true"})
    assert "<h1>" not in partial.text and f'/finance/refunds/{small}"' in partial.text


async def test_detail_shows_the_decision_and_history(client, db, make_refund) -> None:
    refund_id = await make_refund(4000)
    await _as(client, db, "fin@shop.example", "finance")
    page = await client.get(f"/finance/refunds/{refund_id}")
    assert page.status_code == 200
    for text in (
        "Policy decision",
        "Matched rules",
        "changed_mind",
        "not inspected",
        "history",
        "1 return(s)",
        "Deadline",
    ):
        assert text in page.text, text
    assert (await client.get("/finance/refunds/999")).status_code == 404


async def test_four_eyes_refuses_the_same_person_twice(client, db, settings, make_refund) -> None:
    settings.four_eyes_threshold = 3000
    refund_id = await make_refund(4000)
    await _as(client, db, "alice@shop.example", "finance")
    page = f"/finance/refunds/{refund_id}"
    first = await submit_form(client, page, f"{page}/approve", {}, follow_redirects=True)
    assert "needs a second approver" in first.text
    again = await submit_form(client, page, f"{page}/approve", {}, follow_redirects=True)
    assert "second, different person" in again.text
    assert (await load_refund(db, refund_id)).status == "pending_approval"
    await _logout(client)
    await _as(client, db, "bob@shop.example", "finance")
    second = await submit_form(client, page, f"{page}/approve", {}, follow_redirects=True)
    assert "approved; the payment is queued" in second.text
    assert (await load_refund(db, refund_id)).status == "approved"


async def test_reject_needs_a_reason(client, db, make_refund) -> None:
    refund_id = await make_refund(4000)
    await _as(client, db, "fin@shop.example", "finance")
    page = f"/finance/refunds/{refund_id}"
    empty = await submit_form(
        client, page, f"{page}/reject", {"reason": "  "}, follow_redirects=True
    )
    assert "Say why" in empty.text
    assert (await load_refund(db, refund_id)).status == "pending_approval"
    done = await submit_form(
        client, page, f"{page}/reject", {"reason": "Worn, tags cut"}, follow_redirects=True
    )
    assert "Worn, tags cut" in done.text
    assert (await load_refund(db, refund_id)).status == "rejected"


async def test_bulk_approve_then_mark_paid_manually(client, db, jobs, make_refund) -> None:
    ids = [await make_refund(1000, number=f"600{i}") for i in range(3)]
    await _as(client, db, "fin@shop.example", "finance")
    nothing = await submit_form(
        client, "/finance/", "/finance/refunds/bulk-approve", {}, follow_redirects=True
    )
    assert "Tick at least one" in nothing.text
    done = await submit_form(
        client,
        "/finance/",
        "/finance/refunds/bulk-approve",
        {"refund_id": [str(ids[0]), str(ids[1])]},
        follow_redirects=True,
    )
    assert "2 approved" in done.text
    assert [(await load_refund(db, i)).status for i in ids] == [
        "approved",
        "approved",
        "pending_approval",
    ]
    await jobs.drain()
    assert (await load_refund(db, ids[0])).status == "processing"
    page = f"/finance/refunds/{ids[0]}"
    paid = await submit_form(
        client, page, f"{page}/paid", {"reference": "WIRE-42"}, follow_redirects=True
    )
    assert "marked paid" in paid.text and "WIRE-42" in paid.text
    assert (await load_refund(db, ids[0])).status == "succeeded"
    report = await client.get("/finance/reports")
    assert report.status_code == 200 and "manual" in report.text
    csv = await client.get("/finance/reports?format=csv")
    assert csv.headers["content-type"].startswith("text/csv")
    assert "refund,manual,USD,1,1000" in csv.text
    assert (await client.get("/finance/reports?start=nope")).status_code == 400
    recon = await client.get("/finance/reconciliation")
    assert "Manual payments" in recon.text


@pytest.mark.parametrize(
    ("role", "allowed"),
    [("finance", True), ("admin", True), ("warehouse", False), ("merchant", False)],
)
async def test_only_finance_and_admin_enter(client, db, make_refund, role, allowed) -> None:
    refund_id = await make_refund(1000)
    await _as(client, db, f"{role}@shop.example", role)
    page = await client.get("/finance/")
    assert page.status_code == (200 if allowed else 403)
    await client.get("/login")  # a CSRF cookie for the post
    post = await client.post(
        f"/finance/refunds/{refund_id}/approve",
        data={"_csrf_token": csrf_token(client)},
        follow_redirects=False,
    )
    assert post.status_code == (303 if allowed else 403)
    assert (await load_refund(db, refund_id)).status == (
        "approved" if allowed else "pending_approval"
    )


async def test_strangers_are_sent_to_login(client, make_refund) -> None:
    refund_id = await make_refund(1000)
    response = await client.get(f"/finance/refunds/{refund_id}", follow_redirects=False)
    assert response.status_code == 303 and "/login" in response.headers["location"]
    assert PASSWORD  # the factory's password is what login() uses


async def test_store_credit_forms(client, db) -> None:
    from portal.money.credit import issue_credit

    async with db.session() as session:
        code = await issue_credit(
            session,
            currency="USD",
            amount=900,
            customer_id=None,
            return_id=None,
            actor="t",
            key="forms",
        )
        await session.commit()
    await _as(client, db, "fin@shop.example", "finance")
    page = "/finance/store-credit"
    no_reason = await submit_form(
        client,
        page,
        f"{page}/reverse",
        {"code": code.code, "amount": "100", "reason": ""},
        follow_redirects=True,
    )
    assert "Say why" in no_reason.text
    ok = await submit_form(
        client,
        page,
        f"{page}/reverse",
        {"code": code.code, "amount": "100", "reason": "duplicate"},
        follow_redirects=True,
    )
    assert "balance 800" in ok.text
    expired = await submit_form(
        client, page, f"{page}/expire", {"code": code.code}, follow_redirects=True
    )
    assert "Expired 800" in expired.text
