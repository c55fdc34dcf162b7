"""Staff login, session rotation, CSRF, rate limiting and the role guard on every area."""

from __future__ import annotations

import re

import pytest

from tests.conftest import csrf_token, submit_form
from tests.factories import PASSWORD, make_user

AREAS = ["/warehouse", "/merchant", "/finance", "/admin"]


async def login(client, email: str, password: str = PASSWORD):
    return await submit_form(
        client,
        "/login",
        "/login",
        {"email": email, "password": password, "next": ""},
        follow_redirects=False,
    )


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        ("warehouse", {"/warehouse"}),
        ("merchant", {"/merchant"}),
        ("finance", {"/finance"}),
        ("admin", set(AREAS)),
    ],
)
async def test_each_role_reaches_only_its_areas(client, db, role, allowed) -> None:
    await make_user(db, f"{role}@shop.example", role)
    response = await login(client, f"{role}@shop.example")
    assert response.status_code == 303
    assert response.headers["location"] == ("/admin" if role == "admin" else f"/{role}")
    for area in AREAS:
        page = await client.get(area)
        if area in allowed:
            assert page.status_code == 200, area
            assert f"{role}@shop.example".split("@")[0] in page.text
        else:
            assert page.status_code == 403, area
            assert "cannot open this area" in page.text


async def test_strangers_are_sent_to_login_with_a_way_back(client) -> None:
    for area in AREAS:
        response = await client.get(area, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == f"/login?next={area}"


async def test_login_follows_next_but_never_off_site(client, db) -> None:
    await make_user(db, "m@shop.example", "merchant")
    ok = await submit_form(
        client,
        "/login",
        "/login",
        {"email": "m@shop.example", "password": PASSWORD, "next": "/merchant"},
        follow_redirects=False,
    )
    assert ok.headers["location"] == "/merchant"
    await client.post("/logout", data={"_csrf_token": csrf_token(client)})
    evil = await submit_form(
        client,
        "/login",
        "/login",
        {"email": "m@shop.example", "password": PASSWORD, "next": "//evil.example/phish"},
        follow_redirects=False,
    )
    assert evil.headers["location"] == "/merchant"


async def test_wrong_password_and_unknown_user_look_the_same(client, db) -> None:
    await make_user(db, "w@shop.example", "warehouse")
    wrong = await login(client, "w@shop.example", "not the password")
    unknown = await login(client, "nobody@shop.example", "not the password")
    assert wrong.status_code == unknown.status_code == 400
    message = "That e-mail and password do not match an active account."
    assert message in wrong.text and message in unknown.text

    def same(text: str, email: str) -> str:  # the CSP nonce differs per response
        return re.sub(r'nonce="[^"]+"', 'nonce=""', text.replace(email, "X"))

    assert same(wrong.text, "w@shop.example") == same(unknown.text, "nobody@shop.example")
    assert (await client.get("/warehouse", follow_redirects=False)).status_code == 303


async def test_disabled_user_cannot_log_in_and_loses_open_sessions(client, db) -> None:
    user = await make_user(db, "f@shop.example", "finance")
    await login(client, "f@shop.example")
    assert (await client.get("/finance")).status_code == 200
    async with db.session() as session:
        from portal.accounts import set_active

        await set_active(session, user.email, False, actor="test")
    assert (await client.get("/finance", follow_redirects=False)).status_code == 303
    assert (await login(client, "f@shop.example")).status_code == 400


async def test_session_id_changes_at_login_and_old_id_is_dead(client, db) -> None:
    await make_user(db, "a@shop.example", "admin")
    # A session that exists before login (e.g. planted by an attacker) …
    await login(client, "a@shop.example", "wrong password")
    await login(client, "a@shop.example")
    first_id = client.cookies.get("portal_session")
    assert first_id
    await client.post("/logout", data={"_csrf_token": csrf_token(client)})
    await login(client, "a@shop.example")
    second_id = client.cookies.get("portal_session")
    assert second_id and second_id != first_id
    # … and a re-login from an existing session rotates it too.
    await login(client, "a@shop.example")
    third_id = client.cookies.get("portal_session")
    assert third_id != second_id
    client.cookies.set("portal_session", second_id)
    assert (await client.get("/admin", follow_redirects=False)).status_code == 303


async def test_logout_ends_the_session(client, db) -> None:
    await make_user(db, "a@shop.example", "admin")
    await login(client, "a@shop.example")
    assert (await client.get("/admin")).status_code == 200
    response = await client.post(
        "/logout", data={"_csrf_token": csrf_token(client)}, follow_redirects=False
    )
    assert response.status_code == 303
    assert (await client.get("/admin", follow_redirects=False)).status_code == 303


async def test_forms_without_csrf_token_are_refused(client, db) -> None:
    await make_user(db, "a@shop.example", "admin")
    await client.get("/login")
    response = await client.post("/login", data={"email": "a@shop.example", "password": PASSWORD})
    assert response.status_code == 403
    assert "portal_session" not in client.cookies


async def test_login_is_rate_limited(client, db, settings) -> None:
    await make_user(db, "a@shop.example", "admin")
    statuses = [  # many accounts from one address: the per-address limit
        (await login(client, f"guess{i}@shop.example", "a guess")).status_code
        for i in range(settings.login_attempts_per_minute + 2)
    ]
    assert (
        statuses[: settings.login_attempts_per_minute] == [400] * settings.login_attempts_per_minute
    )
    assert statuses[-1] == 429
    # Even the right password waits now.
    assert (await login(client, "a@shop.example")).status_code == 429


async def test_login_page_is_reachable_while_rate_limited(client, db, settings) -> None:
    for i in range(settings.login_attempts_per_minute + 1):
        await login(client, "a@shop.example", f"guess {i}")
    assert (await client.get("/login")).status_code == 200


async def test_idle_sessions_end_and_activity_keeps_them_alive(client, db, settings) -> None:
    import asyncio

    from portal.stores import make_root_store

    await make_user(db, "a@shop.example", "admin")
    await login(client, "a@shop.example")
    session_id = client.cookies.get("portal_session")
    # The same store the app uses (the database, or Redis), through its own connection.
    store = make_root_store(db, settings.redis_url).with_namespace("sessions")
    assert 0 < await store.expires_in(session_id) <= settings.session_idle_minutes * 60
    # Activity renews the idle timer …
    await store.set(session_id, await store.get(session_id), expires_in=30)
    assert (await client.get("/admin")).status_code == 200
    assert await store.expires_in(session_id) > 30
    # … and a session left idle past its time is gone.
    await store.set(session_id, await store.get(session_id), expires_in=1)
    await asyncio.sleep(1.2)
    assert (await client.get("/admin", follow_redirects=False)).status_code == 303


async def test_logout_does_not_share_the_login_limit(client, db, settings) -> None:
    await make_user(db, "a@shop.example", "admin")
    assert (await login(client, "a@shop.example")).status_code == 303
    for i in range(settings.login_attempts_per_minute + 1):
        await login(client, f"guess{i}@shop.example", "a guess")
    assert (await login(client, "a@shop.example")).status_code == 429
    response = await client.post(
        "/logout", data={"_csrf_token": csrf_token(client)}, follow_redirects=False
    )
    assert response.status_code == 303
    assert (await client.get("/admin", follow_redirects=False)).status_code == 303


async def test_per_address_429_says_when_to_retry(client, settings) -> None:
    for i in range(settings.login_attempts_per_minute + 1):
        response = await login(client, f"guess{i}@shop.example", "a guess")
    assert response.status_code == 429
    assert 1 <= int(response.headers["retry-after"]) <= 60


async def test_password_hashing_runs_off_the_event_loop(client, db, monkeypatch) -> None:
    import threading

    import portal.accounts as accounts

    await make_user(db, "a@shop.example", "admin")
    threads: list[threading.Thread] = []
    real = accounts._hasher

    class Recording:
        def verify(self, *args):
            threads.append(threading.current_thread())
            return real.verify(*args)

        def __getattr__(self, name):
            return getattr(real, name)

    monkeypatch.setattr(accounts, "_hasher", Recording())
    assert (await login(client, "a@shop.example", "wrong password")).status_code == 400
    assert (await login(client, "a@shop.example")).status_code == 303
    assert len(threads) == 2
    loop_thread = threading.current_thread()  # the app runs on this test's event loop
    assert all(thread is not loop_thread for thread in threads)


async def test_staff_sessions_end_after_their_absolute_lifetime(client, db, settings) -> None:
    import json

    from portal.stores import make_root_store

    await make_user(db, "a@shop.example", "admin")
    await login(client, "a@shop.example")
    session_id = client.cookies.get("portal_session")
    store = make_root_store(db, settings.redis_url).with_namespace("sessions")
    data = json.loads(await store.get(session_id))
    assert (await client.get("/admin")).status_code == 200  # active, and young enough
    # The same session, still active (never idle), but logged in longer ago than allowed.
    data["logged_in_at"] -= settings.session_max_hours * 3600 + 1
    await store.set(session_id, json.dumps(data), expires_in=600)
    assert (await client.get("/admin", follow_redirects=False)).status_code == 303
    assert await store.get(session_id) is None  # the old session is gone from the store
    client.cookies.set("portal_session", session_id)
    assert (await client.get("/admin", follow_redirects=False)).status_code == 303
    assert settings.session_max_hours == 12
