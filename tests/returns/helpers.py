"""Calling the returns domain directly, as the controllers do."""

from __future__ import annotations

import secrets
from typing import Any

from sqlmodel import func, select

from portal.db import Database
from portal.models.audit import AuditEvent
from portal.models.catalog import Variant
from portal.models.outbox import OutboxMessage
from portal.models.returns import Exchange, Return, ReturnLine
from portal.returns.create import Choice, ItemRequest, confirm_return
from portal.returns.links import LinkSigner


async def create(
    db: Database,
    signer: LinkSigner,
    order_id: int,
    items: list[ItemRequest],
    choices: dict[int, Choice],
    **kw: Any,
) -> Any:
    async with db.session() as session:
        return await confirm_return(
            session,
            order_id=order_id,
            items=items,
            choices=choices,
            submission_key=kw.pop("submission_key", secrets.token_urlsafe(16)),
            signer=signer,
            **kw,
        )


async def counts(db: Database) -> dict[str, int]:
    async with db.session() as session:
        out = {}
        for name, model in (
            ("returns", Return),
            ("lines", ReturnLine),
            ("exchanges", Exchange),
            ("outbox", OutboxMessage),
        ):
            out[name] = (await session.exec(select(func.count()).select_from(model))).one()
        return out


async def stock(db: Database, variant_id: int) -> tuple[int, int]:
    async with db.session() as session:
        v = await session.get(Variant, variant_id)
        return v.stock_on_hand, v.stock_reserved


async def outbox_keys(db: Database) -> set[str]:
    async with db.session() as session:
        return set((await session.exec(select(OutboxMessage.dedupe_key))).all())


async def audit(db: Database, return_id: int) -> list[tuple[str, str | None, str | None]]:
    async with db.session() as session:
        rows = (
            await session.exec(
                select(AuditEvent)
                .where(AuditEvent.entity_type == "return", AuditEvent.entity_id == return_id)
                .order_by(AuditEvent.id)
            )
        ).all()
        return [(e.action, e.from_state, e.to_state) for e in rows]


async def load(db: Database, return_id: int) -> Return:
    async with db.session() as session:
        return await session.get(Return, return_id)


async def add_photo(db: Database, settings: Any, order_id: int) -> int:
    from portal.returns.photos import store_photo
    from tests.returns.builders import JPEG

    async with db.session() as session:
        return (await store_photo(session, settings.media_dir, order_id, JPEG)).id
