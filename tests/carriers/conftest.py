"""Fixtures for carrier and document tests.

Recordings come from the shared folder beside the repository; tests that need them skip with
the reason when it is absent, except under CI=true where a missing folder is a failure. An
autouse guard refuses any socket connection off loopback, so a test that would reach the
internet fails loudly instead.
"""

from __future__ import annotations

import io
import ipaddress
import json
import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import segno
from pypdf import PdfReader

from portal.carriers.base import Address, LabelRequest, Parcel
from tests.support.easypost_replay import EASYPOST_FIXTURES_DIR, ReplayServer, load_cassette

_real_connect = socket.socket.connect


def _is_local(address: Any) -> bool:
    if isinstance(address, str | bytes):  # AF_UNIX path
        return True
    host = address[0]
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def _no_internet(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any attempt to connect anywhere but loopback."""

    def guarded_connect(sock: socket.socket, address: Any) -> Any:
        if not _is_local(address):
            raise AssertionError(f"test tried to reach the network: {address!r}")
        return _real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    # A proxy configured in the environment must not capture loopback traffic.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


def require_shared() -> Path:
    """The EasyPost fixtures folder, or skip (fail under CI=true) when it is absent."""
    if EASYPOST_FIXTURES_DIR.is_dir():
        return EASYPOST_FIXTURES_DIR
    reason = (
        f"shared EasyPost recordings not found at {EASYPOST_FIXTURES_DIR} "
        "(expected ../shared beside the repository)"
    )
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; CI=true requires them", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def easypost_fixtures() -> Path:
    return require_shared()


@pytest.fixture
def replay(easypost_fixtures: Path) -> Iterator[ReplayServer]:
    """A started replay server with no cassette loaded (tests load what they need)."""
    with ReplayServer() as server:
        yield server


@pytest.fixture
def recorded() -> Callable[[str, int], Any]:
    """`recorded(cassette, index)` -> that interaction's recorded response JSON."""

    def get(cassette: str, index: int) -> Any:
        require_shared()
        return load_cassette(cassette)[index].json()

    return get


@pytest.fixture(scope="session")
def png_label() -> bytes:
    """A real PNG image standing in for EasyPost's label file (which we must not download)."""
    buffer = io.BytesIO()
    segno.make("9400100208303109505657").save(buffer, kind="png", scale=8)
    return buffer.getvalue()


class RecordingFetcher:
    """Label fetcher double: records URLs, returns canned bytes or raises."""

    def __init__(self, payload: bytes | Exception) -> None:
        self.payload = payload
        self.urls: list[str] = []

    def __call__(self, url: str) -> bytes:
        self.urls.append(url)
        if isinstance(self.payload, Exception):
            raise self.payload
        return self.payload


@pytest.fixture
def make_fetcher() -> type[RecordingFetcher]:
    return RecordingFetcher


@pytest.fixture
def fetcher(png_label: bytes) -> RecordingFetcher:
    return RecordingFetcher(png_label)


@pytest.fixture
def shopper() -> Address:
    return Address(
        name="Jane Shopper",
        street1="12 Elm Street",
        street2="Apt 4",
        city="Springfield",
        state="IL",
        zip="62704",
        country="us",
        phone="5555555555",
        email="jane@example.com",
    )


@pytest.fixture
def warehouse() -> Address:
    return Address(
        name="Acme Returns Warehouse",
        street1="500 Industrial Pkwy",
        street2=None,
        city="Reno",
        state="NV",
        zip="89502",
        country="US",
        company="Acme Outdoor Co.",
    )


@pytest.fixture
def label_request(shopper: Address, warehouse: Address) -> LabelRequest:
    return LabelRequest(
        reference="RMA-1001-ABCD",
        from_address=shopper,
        to_address=warehouse,
        parcel=Parcel(length_in=10, width_in=8, height_in=4, weight_oz=15.4),
        idempotency_key="return:42:label",
    )


def _pdf_reader(pdf: bytes) -> PdfReader:
    assert pdf.startswith(b"%PDF-"), "not a PDF"
    return PdfReader(io.BytesIO(pdf))


@pytest.fixture
def pdf_reader() -> Callable[[bytes], PdfReader]:
    """`pdf_reader(pdf_bytes)` -> a pypdf reader (asserts it is a PDF)."""
    return _pdf_reader


@pytest.fixture
def pdf_text() -> Callable[[bytes], str]:
    """`pdf_text(pdf_bytes)` -> the text of all pages."""
    return lambda pdf: "\n".join(page.extract_text() or "" for page in _pdf_reader(pdf).pages)


@pytest.fixture
def signed_webhook(easypost_fixtures: Path) -> tuple[bytes, str, str]:
    """(signed body, secret, signature) from the shared EasyPost webhook fixtures.

    The file ends with a newline added when it was saved; EasyPost signed the JSON without
    it, so it is stripped here (the signed bytes themselves are never altered).
    """
    body = (easypost_fixtures / "fixtures" / "event-body.json").read_bytes().rstrip(b"\n")
    meta = json.loads(
        (easypost_fixtures / "fixtures" / "client-library-fixtures.json").read_text("utf-8")
    )
    return body, meta["webhooks"]["secret"], meta["webhooks"]["hmac_signature"]
