"""Two publishes at the same moment, each from the live version: one wins, the other is
told to reload, and there are never two live versions."""

from __future__ import annotations

import asyncio

from sqlmodel import select

from portal.merchant.policy_editor import EditorError, publish_text
from portal.models.policy import PolicyVersion
from portal.models.staff import StaffUser
from tests.factories import make_user
from tests.returns.builders import DEFAULT_POLICY, seed_shop


async def test_simultaneous_publishes_never_make_two_live_versions(db) -> None:
    await seed_shop(db)
    user = await make_user(db, "mia@shop.example", "merchant")

    async def attempt(days: int) -> PolicyVersion | EditorError:
        async with db.session() as session:
            me = await session.get(StaffUser, user.id)
            text = DEFAULT_POLICY.replace("days: 30", f"days: {days}", 1)
            try:
                return await publish_text(session, me, text, base_version=1)
            except EditorError as exc:
                return exc
            except Exception as exc:
                return EditorError(str(exc))

    results = await asyncio.gather(attempt(40), attempt(50))
    wins = [r for r in results if isinstance(r, PolicyVersion)]
    losses = [r for r in results if isinstance(r, EditorError)]
    assert len(wins) == 1 and len(losses) == 1, results
    assert "Reload" in str(losses[0]) or "reload" in str(losses[0])
    async with db.session() as session:
        live = (await session.exec(select(PolicyVersion).where(PolicyVersion.active))).all()
        versions = (await session.exec(select(PolicyVersion.version))).all()
    assert [v.version for v in live] == [2] and sorted(versions) == [1, 2]
