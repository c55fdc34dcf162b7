"""Per-account login back-off (issue 18, finding 3): guessing one account's password from
many addresses is refused with 429 + Retry-After, and the wait ends after a few minutes."""

from __future__ import annotations

import httpx

import portal.web.login_throttle as throttle
from portal.app import create_app
from tests.factories import PASSWORD, make_user
from tests.support.live_server import serve_in_thread


def attempt(client: httpx.Client, password: str, address: str) -> httpx.Response:
    return client.post(
        "/login",
        data={
            "email": "boss@shop.example",
            "password": password,
            "next": "",
            "_csrf_token": client.cookies["portal_csrf"],
        },
        headers={"X-Forwarded-For": address},
    )


async def test_one_account_from_many_addresses_backs_off(settings, db, monkeypatch) -> None:
    await make_user(db, "boss@shop.example", "admin")
    behind = settings.model_copy(update={"trusted_proxies": "127.0.0.1"})
    addresses = [f"203.0.113.{i + 1}" for i in range(5)]
    clock = [1_000_000.0]  # the throttle's clock stands still until moved below
    monkeypatch.setattr(throttle, "_now", lambda: clock[0])
    with serve_in_thread(create_app(behind)) as base, httpx.Client(base_url=base) as client:
        client.get("/login")
        # 40 wrong passwords, 8 from each address: under the per-address limit of 10.
        answers = [attempt(client, f"guess {i}", addresses[i % 5]).status_code for i in range(40)]
        free = settings.login_free_failures
        assert answers[:free] == [400] * free
        assert answers[free:] == [429] * (40 - free)
        # The right password is refused too, and the answer says how long to wait.
        right = attempt(client, PASSWORD, "198.51.100.9")
        assert right.status_code == 429
        wait = int(right.headers["retry-after"])
        assert 1 <= wait <= settings.login_backoff_max_seconds
        assert "Try again in" in right.text
        assert wait == 1
        # After the wait one more wrong password doubles the next wait …
        clock[0] += wait
        assert attempt(client, "guess again", addresses[0]).status_code == 400
        assert attempt(client, PASSWORD, "198.51.100.9").headers["retry-after"] == "2"
        # … and a stranger cannot keep staff out for long: after it, the right one works.
        clock[0] += 2
        ok = attempt(client, PASSWORD, "198.51.100.9")
        assert ok.status_code == 303, ok.text


async def test_the_wait_doubles_and_is_capped(monkeypatch) -> None:
    from types import SimpleNamespace

    from litestar.stores.memory import MemoryStore

    store = MemoryStore()
    request = SimpleNamespace(app=SimpleNamespace(stores=SimpleNamespace(get=lambda _: store)))
    clock = [1_000_000.0]
    monkeypatch.setattr(throttle, "_now", lambda: clock[0])
    account = throttle.AccountThrottle(free=3, cap=60)
    waits = []
    for _ in range(12):
        await account.failed(request, "Boss@Shop.example")  # type: ignore[arg-type]
        waits.append(await account.retry_after(request, "boss@shop.example"))  # type: ignore[arg-type]
        clock[0] += 1000
    assert waits == [None, None, 1, 2, 4, 8, 16, 32, 60, 60, 60, 60]
    await account.succeeded(request, "boss@shop.example")  # type: ignore[arg-type]
    await account.failed(request, "boss@shop.example")  # type: ignore[arg-type]
    assert await account.retry_after(request, "boss@shop.example") is None  # type: ignore[arg-type]
