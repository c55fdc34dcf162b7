"""Users: invite (temporary password shown once and working), roles, disable (never
yourself), admin-only powers; the audit log filtered by return, user and date."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlmodel import select

from portal.models.audit import AuditEvent
from portal.models.staff import StaffUser
from portal.returns.create import Choice, ItemRequest
from tests.conftest import submit_form
from tests.factories import PASSWORD, make_user
from tests.merchant.helpers import another_browser, login, post
from tests.returns.builders import seed_shop
from tests.returns.helpers import create


async def _user(db, email: str) -> StaffUser:
    async with db.session() as session:
        return (await session.exec(select(StaffUser).where(StaffUser.email == email))).one()


async def test_invite_shows_a_temporary_password_once_that_signs_in(client, db) -> None:
    await login(client, db)
    await client.get("/merchant/users")
    response = await post(
        client,
        "/merchant/users/invite",
        {"email": "Wes@Shop.Example", "name": "Wes", "roles": ["warehouse"]},
    )
    assert response.status_code == 200
    password = re.search(r'id="temporary-password">([^<]+)<', response.text).group(1)
    assert "shown only this once" in response.text
    user = await _user(db, "wes@shop.example")
    assert user.roles == ["warehouse"] and password not in user.password_hash
    listing = await client.get("/merchant/users")
    assert password not in listing.text and "wes@shop.example" in listing.text
    async with another_browser(client) as wes:
        signed_in = await submit_form(
            wes,
            "/login",
            "/login",
            {"email": "wes@shop.example", "password": password, "next": ""},
            follow_redirects=False,
        )
        assert signed_in.status_code == 303 and signed_in.headers["location"] == "/warehouse"
    async with db.session() as session:
        event = (await session.exec(select(AuditEvent).where(AuditEvent.action == "invited"))).one()
    assert event.actor == "mia@shop.example" and event.entity_id == user.id


async def test_invite_rejects_bad_input_and_changes_nothing(client, db) -> None:
    await login(client, db)
    await client.get("/merchant/users")
    for data, message in [
        ({"email": "not-an-email", "roles": ["finance"]}, "is not a valid e-mail address"),
        ({"email": "fin@shop.example"}, "Choose at least one role."),
        ({"email": "fin@shop.example", "roles": ["root"]}, "Unknown role root"),
        ({"email": "mia@shop.example", "roles": ["finance"]}, "There is already a user"),
        ({"email": "boss@shop.example", "roles": ["admin"]}, "Only an admin can give"),
    ]:
        response = await post(client, "/merchant/users/invite", data)
        assert response.status_code == 400, data
        assert message in response.text, (data, response.text[-2000:])
    async with db.session() as session:
        emails = (await session.exec(select(StaffUser.email))).all()
    assert emails == ["mia@shop.example"]


async def test_set_roles_and_disable_others_but_never_yourself(client, db) -> None:
    async with another_browser(client) as fin_client:
        fin = await login(fin_client, db, "fin@shop.example", "finance")
        fin_cookies = fin_client.cookies
    me = await login(client, db)
    await client.get("/merchant/users")
    changed = await post(
        client, f"/merchant/users/{fin.id}/roles", {"roles": ["finance", "warehouse"]}
    )
    assert changed.status_code == 303
    assert (await _user(db, "fin@shop.example")).roles == ["warehouse", "finance"]
    disabled = await post(client, f"/merchant/users/{fin.id}/disable", {})
    assert disabled.status_code == 303
    async with another_browser(client) as fin_client:
        fin_client.cookies = fin_cookies
        # the disabled user is out on their next request
        after = await fin_client.get("/warehouse", follow_redirects=False)
        assert after.status_code in (302, 303) and "/login" in after.headers["location"]
    page = await client.get("/merchant/users?done=disabled")
    assert "Disabled" in page.text and "Enable fin@shop.example" in page.text
    myself = await post(client, f"/merchant/users/{me.id}/disable", {})
    assert myself.status_code == 400
    assert "You can&#39;t disable or enable your own account." in myself.text
    mine = await post(client, f"/merchant/users/{me.id}/roles", {"roles": ["finance"]})
    assert mine.status_code == 400 and (await _user(db, "mia@shop.example")).roles == ["merchant"]
    none = await post(client, f"/merchant/users/{fin.id}/roles", {})
    assert none.status_code == 400 and "Choose at least one role." in none.text
    async with db.session() as session:
        actions = (
            await session.exec(
                select(AuditEvent.action).where(
                    AuditEvent.entity_type == "staff_user", AuditEvent.entity_id == fin.id
                )
            )
        ).all()
    assert "roles_changed" in actions and "disabled" in actions


async def test_only_an_admin_touches_an_admin(client, db) -> None:
    admin_user = await make_user(db, "ada@shop.example", "admin")
    await login(client, db)
    await client.get("/merchant/users")
    response = await post(client, f"/merchant/users/{admin_user.id}/disable", {})
    assert response.status_code == 400 and "Only an admin can change an admin" in response.text
    assert (await _user(db, "ada@shop.example")).active


async def test_audit_log_filters_by_return_user_and_date(client, db, signer) -> None:
    shop = await seed_shop(db)
    first = await create(
        db,
        signer,
        shop.order_id,
        [ItemRequest(shop.lines["L4"], 1, "changed_mind")],
        {shop.lines["L4"]: Choice("refund")},
    )
    second = await create(
        db,
        signer,
        shop.order_id,
        [ItemRequest(shop.lines["L1"], 1, "too_small")],
        {shop.lines["L1"]: Choice("refund")},
    )
    async with db.session() as session:
        old = AuditEvent(
            actor="someone@old.example",
            entity_type="return",
            entity_id=first.ret.id,
            action="ancient",
            created_at=datetime(2025, 1, 5, 12, tzinfo=UTC),
        )
        session.add(old)
        await session.commit()
    await login(client, db)
    by_rma = await client.get("/merchant/audit", params={"rma": first.ret.rma.lower()})
    assert by_rma.status_code == 200
    assert "ancient" in by_rma.text
    assert (
        f"return #{first.ret.id}" in by_rma.text and f"return #{second.ret.id}" not in by_rma.text
    )
    by_user = await client.get("/merchant/audit", params={"actor": "OLD.example"})
    assert "ancient" in by_user.text and "created" not in by_user.text
    today = datetime.now(UTC).date()
    by_date = await client.get(
        "/merchant/audit",
        params={"from": (today - timedelta(days=1)).isoformat(), "to": today.isoformat()},
    )
    assert "ancient" not in by_date.text and f"return #{second.ret.id}" in by_date.text
    in_2025 = await client.get("/merchant/audit", params={"from": "2025-01-05", "to": "2025-01-05"})
    assert "ancient" in in_2025.text and f"return #{second.ret.id}" not in in_2025.text
    unknown = await client.get("/merchant/audit", params={"rma": "R-NOPE"})
    assert unknown.status_code == 400 and "There is no return R-NOPE." in unknown.text
    bad_date = await client.get("/merchant/audit", params={"from": "yesterday"})
    assert bad_date.status_code == 400 and "must be a date like" in bad_date.text
    backwards = await client.get(
        "/merchant/audit", params={"from": "2026-02-02", "to": "2026-02-01"}
    )
    assert backwards.status_code == 400 and "start date is after the end date" in backwards.text


async def test_warehouse_staff_cannot_manage_users(client, db) -> None:
    await login(client, db, "wes@shop.example", "warehouse")
    assert (await client.get("/merchant/users")).status_code == 403
    assert (await client.get("/merchant/audit")).status_code == 403


async def test_new_temporary_password_replaces_the_old_one(client, db) -> None:
    other = await make_user(db, "fin@shop.example", "finance")
    me = await login(client, db)
    await client.get("/merchant/users")
    response = await post(client, f"/merchant/users/{other.id}/password", {})
    assert response.status_code == 200 and "the old one no longer works" in response.text
    password = re.search(r'id="temporary-password">([^<]+)<', response.text).group(1)
    async with another_browser(client) as fin:
        old = await submit_form(
            fin,
            "/login",
            "/login",
            {"email": "fin@shop.example", "password": PASSWORD, "next": ""},
            follow_redirects=False,
        )
        assert old.status_code != 303
        new = await submit_form(
            fin,
            "/login",
            "/login",
            {"email": "fin@shop.example", "password": password, "next": ""},
            follow_redirects=False,
        )
        assert new.status_code == 303
    mine = await post(client, f"/merchant/users/{me.id}/password", {})
    assert mine.status_code == 400 and "Change your own password" in mine.text
