"""Shopper photos: checked by their bytes (not their name or declared type), stored outside
the web root, and recorded as ``Media`` rows tied to the order they belong to."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

from sqlmodel.ext.asyncio.session import AsyncSession

from portal.audit import record
from portal.errors import Invalid
from portal.models.outbox import Media

MAX_PHOTO_BYTES = 8 * 1024 * 1024
ACCEPTED = "JPEG, PNG, WebP or HEIC"
_EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/webp": "webp",
    "image/heic": "heic",
}


class PhotoError(Invalid):
    """The upload is not a photo we accept; the message says why in plain words."""


def sniff_image(data: bytes) -> str | None:
    """The image type the first bytes prove, or None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if (
        len(data) >= 12
        and data[4:8] == b"ftyp"
        and data[8:12]
        in (
            b"heic",
            b"heix",
            b"hevc",
            b"heim",
            b"heis",
            b"mif1",
            b"msf1",
        )
    ):
        return "image/heic"
    return None


def check_photo(data: bytes) -> str:
    """The content type of an acceptable photo; raises PhotoError otherwise."""
    if not data:
        raise PhotoError("The photo is empty. Please choose the picture again.")
    if len(data) > MAX_PHOTO_BYTES:
        raise PhotoError(
            f"The photo is {len(data) / 1048576:.1f} MB; the limit is "
            f"{MAX_PHOTO_BYTES // 1048576} MB. Please send a smaller picture."
        )
    content_type = sniff_image(data)
    if content_type is None:
        raise PhotoError(f"That file is not a photo we can read. Please send a {ACCEPTED} image.")
    return content_type


async def save_media(
    session: AsyncSession,
    media_dir: Path,
    relative: Path,
    data: bytes,
    content_type: str,
    order_id: int | None,
    actor: str,
) -> Media:
    """Write ``data`` under ``media_dir/relative`` atomically and add its ``Media`` row
    (flushed, not committed)."""
    target = media_dir / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_suffix(".part")
    temporary.write_bytes(data)
    os.replace(temporary, target)
    media = Media(
        order_id=order_id,
        content_type=content_type,
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        path=relative.as_posix(),
        uploaded_by=actor[:120],
    )
    session.add(media)
    await session.flush()
    return media


async def store_photo(
    session: AsyncSession, media_dir: Path, order_id: int, data: bytes, actor: str = "shopper"
) -> Media:
    """Check, write and record one photo for ``order_id``; commits (the file is on disk)."""
    content_type = check_photo(data)
    digest = hashlib.sha256(data).hexdigest()
    relative = Path("photos") / digest[:2] / f"{uuid.uuid4().hex}.{_EXTENSIONS[content_type]}"
    media = await save_media(session, media_dir, relative, data, content_type, order_id, actor)
    await record(
        session,
        actor,
        "media",
        media.id,
        "uploaded",
        data={"order_id": order_id, "size": len(data), "type": content_type},
    )
    await session.commit()
    return media


def photo_file(media_dir: Path, media: Media) -> Path | None:
    """The file of a stored photo, refusing any path that would leave the media folder."""
    root = media_dir.resolve()
    path = (root / media.path).resolve()
    if root not in path.parents or not path.is_file():
        return None
    return path
