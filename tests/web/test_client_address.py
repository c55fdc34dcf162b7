"""The client address behind (and without) reverse proxies (issue 18, finding 2): from
loopback, a new X-Forwarded-For on each try must not buy new lookup or login attempts."""

from __future__ import annotations

import httpx
import pytest

from portal.app import create_app
from portal.settings import load_settings
from tests.support.live_server import serve_in_thread


def lookups(base: str, forwarded_for: list[str]) -> list[int]:
    """One order lookup per X-Forwarded-For value, as the served app answers them."""
    with httpx.Client(base_url=base) as client:
        client.get("/")
        token = client.cookies["portal_csrf"]
        return [
            client.post(
                "/",
                data={
                    "order_number": f"{9000 + i}",
                    "contact": "x@example.com",
                    "_csrf_token": token,
                },
                headers={"X-Forwarded-For": xff},
            ).status_code
            for i, xff in enumerate(forwarded_for)
        ]


def logins(base: str, forwarded_for: list[str]) -> list[int]:
    with httpx.Client(base_url=base) as client:
        client.get("/login")
        token = client.cookies["portal_csrf"]
        return [
            client.post(
                "/login",
                data={
                    "email": f"guess{i}@shop.example",
                    "password": "wrong",
                    "next": "",
                    "_csrf_token": token,
                },
                headers={"X-Forwarded-For": xff},
            ).status_code
            for i, xff in enumerate(forwarded_for)
        ]


def fresh(n: int) -> list[str]:
    return [f"203.0.113.{i + 1}" for i in range(n)]


def test_forwarded_for_from_loopback_is_not_believed_by_default(settings) -> None:
    limited = settings.model_copy(
        update={"lookup_attempts_per_minute": 3, "login_attempts_per_minute": 3}
    )
    with serve_in_thread(create_app(limited)) as base:
        answers = lookups(base, fresh(6))
        assert answers[:3] == [400, 400, 400] and answers[3:] == [429, 429, 429]
        answers = logins(base, fresh(6))
        assert 429 in answers and answers[-1] == 429


def test_trusted_proxy_hops_give_the_rightmost_untrusted_address(settings) -> None:
    behind = settings.model_copy(
        update={"lookup_attempts_per_minute": 3, "trusted_proxies": "127.0.0.1,10.0.0.0/8"}
    )
    with serve_in_thread(create_app(behind)) as base:
        # The proxy appends the real client; whatever the client wrote before it is ignored,
        # and so are trusted hops after it.
        spoofed = [f"{xff}, 198.51.100.7, 10.1.2.3" for xff in fresh(5)]
        assert lookups(base, spoofed)[3:] == [429, 429]
        # Distinct real clients behind the proxy each get their own attempts.
        assert lookups(base, [f"198.51.100.{i + 20}" for i in range(5)]) == [400] * 5


def test_trusted_proxies_are_validated(tmp_path) -> None:
    from portal.settings import SettingsError

    with pytest.raises(SettingsError, match="PORTAL_TRUSTED_PROXIES"):
        load_settings(_env_file=None, data_dir=tmp_path, trusted_proxies="10.0.0.0/8, x.local")
    assert load_settings(
        _env_file=None, data_dir=tmp_path, trusted_proxies=" 10.0.0.0/8 , ::1"
    ).trusted_proxy_list == ["10.0.0.0/8", "::1"]
