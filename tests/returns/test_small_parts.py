"""RMA numbers, signed links and photo checks: the small pieces the journey relies on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from portal.returns.links import LinkError, LinkSigner
from portal.returns.photos import MAX_PHOTO_BYTES, PhotoError, check_photo, sniff_image
from portal.returns.rma import ALPHABET, generate_rma, normalise_rma
from tests.returns.builders import JPEG, PNG_1PX


def test_rma_numbers_are_short_unambiguous_and_random() -> None:
    numbers = {generate_rma() for _ in range(2000)}
    assert len(numbers) == 2000
    for rma in list(numbers)[:50]:
        assert len(rma) == len("RMA-XXXXX-XXXXX")
        body = rma.replace("RMA-", "").replace("-", "")
        assert set(body) <= set(ALPHABET)
        assert not set(body) & set("ILOU")


def test_typed_rma_numbers_are_forgiving() -> None:
    assert normalise_rma("rma-7kq2m 9xd4p") == "RMA-7KQ2M-9XD4P"
    assert normalise_rma("RMA-OOIIL-12345") == "RMA-00111-12345"
    assert normalise_rma("RMA-123") is None
    assert normalise_rma("../../etc/passwd") is None


def test_signed_link_round_trip_and_expiry() -> None:
    signer = LinkSigner("a-secret-that-is-long-enough-0123456789", ttl=timedelta(days=2))
    now = datetime(2026, 11, 1, tzinfo=UTC)
    token = signer.token(42, "RMA-AAAAA-BBBBB", now=now)
    claims = signer.read(token, now=now + timedelta(days=1))
    assert (claims.order_id, claims.rma) == (42, "RMA-AAAAA-BBBBB")
    with pytest.raises(LinkError) as expired:
        signer.read(token, now=now + timedelta(days=2, seconds=1))
    assert expired.value.expired


def test_tampered_or_foreign_links_are_refused() -> None:
    signer = LinkSigner("a-secret-that-is-long-enough-0123456789")
    token = signer.token(42)
    body, mac = token.split(".")
    other = LinkSigner("another-secret-long-enough-0123456789").token(43)
    forged_body = other.split(".")[0]
    for bad in (f"{forged_body}.{mac}", f"{body}.{mac[:-2]}xx", body, "", "a.b.c", other):
        with pytest.raises(LinkError) as err:
            signer.read(bad)
        assert not err.value.expired


def test_photos_are_checked_by_their_bytes() -> None:
    assert sniff_image(JPEG) == "image/jpeg"
    assert sniff_image(PNG_1PX) == "image/png"
    assert sniff_image(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp"
    assert sniff_image(b"\x00\x00\x00\x18ftypheic\x00\x00") == "image/heic"
    assert sniff_image(b"<svg xmlns='http://www.w3.org/2000/svg'/>") is None
    assert sniff_image(b"%PDF-1.7") is None
    with pytest.raises(PhotoError, match="not a photo"):
        check_photo(b"GIF89a....")
    with pytest.raises(PhotoError, match="limit is 8 MB"):
        check_photo(JPEG + b"\x00" * MAX_PHOTO_BYTES)
    with pytest.raises(PhotoError, match="empty"):
        check_photo(b"")
