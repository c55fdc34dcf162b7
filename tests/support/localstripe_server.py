"""``localstripe`` on a free loopback port, as a subprocess, and a recording SDK client.

localstripe ignores idempotency keys and mis-totals full refunds, so tests pass explicit
amounts, assert on our own ledger, and check the key actually sent through ``Recorder``
(the SDK's HTTP client, wrapped: it sees every request's headers, and can lose a response
or run a hook before the SDK sees the answer).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import stripe

from tests.support.live_server import free_port


def _localstripe_command() -> list[str] | None:
    exe = Path(sys.executable).with_name("localstripe")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("localstripe")
    return [found] if found else None


@contextmanager
def localstripe(tmp_dir: Path) -> Iterator[str | None]:
    """Yields the API base URL, or None when localstripe is not installed."""
    command = _localstripe_command()
    if command is None:
        yield None
        return
    port = free_port()
    log = open(tmp_dir / "localstripe.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [*command, "--port", str(port), "--from-scratch"], cwd=tmp_dir, stdout=log, stderr=log
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("localstripe did not start") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@dataclass
class Sent:
    method: str
    path: str
    idempotency_key: str | None
    body: str


@dataclass
class Recorder(stripe.RequestsClient):  # type: ignore[misc]
    """Records every request; ``lose_next`` drops the next create's response after it reached
    the server; ``before_response`` runs after the server answered, before the SDK sees it."""

    sent: list[Sent] = field(default_factory=list)
    lose_next: int = 0
    before_response: Callable[[str, int], None] | None = None

    def __post_init__(self) -> None:
        stripe.RequestsClient.__init__(self)

    def request(self, method: str, url: str, headers: Any, post_data: Any = None) -> Any:
        path = url.split("://", 1)[-1].split("/", 1)[-1]
        key = next((v for k, v in (headers or {}).items() if k.lower() == "idempotency-key"), None)
        self.sent.append(Sent(method.upper(), "/" + path, key, str(post_data or "")))
        body, status, response_headers = super().request(method, url, headers, post_data)
        if method.upper() == "POST" and "/v1/refunds" in url:
            if self.lose_next:
                self.lose_next -= 1
                raise stripe.APIConnectionError("the response was lost (test)")
            if self.before_response is not None:
                self.before_response(body if isinstance(body, str) else body.decode(), status)
        return body, status, response_headers

    def refund_creates(self) -> list[Sent]:
        return [s for s in self.sent if s.method == "POST" and s.path.startswith("/v1/refunds")]


def paid_intent(api_base: str, amount: int, currency: str = "usd") -> str:
    """A succeeded PaymentIntent on localstripe (the shopper's original payment)."""
    client = stripe.StripeClient("sk_test_portal", base_addresses={"api": api_base})
    intent = client.v1.payment_intents.create(
        params={
            "amount": amount,
            "currency": currency,
            "payment_method": "pm_card_visa",
            "confirm": True,
        }
    )
    return intent.id


def refunds_on(api_base: str, payment_intent: str) -> list[dict[str, Any]]:
    client = stripe.StripeClient("sk_test_portal", base_addresses={"api": api_base})
    page = client.v1.refunds.list(params={"payment_intent": payment_intent, "limit": 100})
    return [r.to_dict() for r in page.data]


def signed_event(secret: str, payload: str) -> dict[str, str]:
    """The Stripe-Signature header Stripe would send for ``payload``."""
    import hashlib
    import hmac

    ts = int(time.time())
    sig = hmac.new(secret.encode(), f"{ts}.{payload}".encode(), hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={ts},v1={sig}", "Content-Type": "application/json"}
