"""Two publishes (or a publish and a rollback) at the same moment, each from the live
version: one wins, the other is told to reload, and there are never two live versions."""

from __future__ import annotations

import asyncio

import pytest
from sqlmodel import select

from portal.merchant.policy_editor import EditorError, publish_text, rollback_to
from portal.models.audit import AuditEvent
from portal.models.policy import PolicyVersion
from portal.models.staff import StaffUser
from portal.policy.versions import lock_active_version, publish
from tests.factories import make_user
from tests.merchant.helpers import another_browser, base_version, login, post
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


async def test_rollback_racing_a_publish_is_serialised_with_it(db) -> None:
    """A rollback and a publish from the same page state: they queue on one lock, the first
    wins and the second is told the live version changed. Exactly one version is live and
    the numbers have no gaps or duplicates, whichever wins."""
    await seed_shop(db)  # v1
    user = await make_user(db, "mia@shop.example", "merchant")
    async with db.session() as session:
        me = await session.get(StaffUser, user.id)
        await publish_text(session, me, DEFAULT_POLICY.replace("days: 30", "days: 45", 1), 1)

    async def publish_v3() -> PolicyVersion | EditorError:
        async with db.session() as session:
            me = await session.get(StaffUser, user.id)
            text = DEFAULT_POLICY.replace("days: 30", "days: 60", 1)
            try:
                return await publish_text(session, me, text, base_version=2)
            except EditorError as exc:
                return exc

    async def roll_back_to_v1() -> PolicyVersion | EditorError:
        async with db.session() as session:
            me = await session.get(StaffUser, user.id)
            try:
                return await rollback_to(session, me, 1, base_version=2)
            except EditorError as exc:
                return exc

    results = await asyncio.gather(publish_v3(), roll_back_to_v1())
    wins = [r for r in results if isinstance(r, PolicyVersion)]
    losses = [r for r in results if isinstance(r, EditorError)]
    assert len(wins) == 1 and len(losses) == 1, results
    assert "reload" in str(losses[0]).lower() and "after you opened" in str(losses[0])
    async with db.session() as session:
        live = (await session.exec(select(PolicyVersion).where(PolicyVersion.active))).all()
        versions = sorted((await session.exec(select(PolicyVersion.version))).all())
        events = (
            await session.exec(
                select(AuditEvent)
                .where(AuditEvent.entity_type == "policy_version")
                .order_by(AuditEvent.id)  # type: ignore[arg-type]
            )
        ).all()
    assert len(live) == 1
    if results[0] is wins[0]:  # the publish went first: v3 is live, the rollback was refused
        assert live[0].version == 3 and versions == [1, 2, 3]
        assert [(e.action, e.from_state, e.to_state) for e in events][-1:] == [
            ("published", "v2", "v3")
        ]
    else:  # the rollback went first: v1 is live again, the publish was refused
        assert live[0].version == 1 and versions == [1, 2]
        assert [(e.action, e.from_state, e.to_state) for e in events][-1:] == [
            ("rolled_back", "v2", "v1")
        ]


async def test_rollback_waits_for_a_publish_holding_the_lock(db) -> None:
    """The rollback really queues behind a publish's lock (not just loses a race): while a
    publish holds the lock, the rollback waits; then it sees v3 live and is refused."""
    await seed_shop(db)  # v1
    user = await make_user(db, "mia@shop.example", "merchant")
    async with db.session() as session:
        me = await session.get(StaffUser, user.id)
        await publish_text(session, me, DEFAULT_POLICY.replace("days: 30", "days: 45", 1), 1)
    async with db.session() as holder:
        await lock_active_version(holder)
        async with db.session() as other:
            me = await other.get(StaffUser, user.id)
            waiting = asyncio.ensure_future(rollback_to(other, me, 1, base_version=2))
            await asyncio.sleep(0.3)
            assert not waiting.done()  # queued behind the lock
            await publish(holder, DEFAULT_POLICY.replace("days: 30", "days: 60", 1), "noah")
            with pytest.raises(EditorError) as refused:
                await asyncio.wait_for(waiting, 30)
    assert "Version 3 went live (by noah) after you opened this page" in str(refused.value)
    async with db.session() as session:
        live = (await session.exec(select(PolicyVersion).where(PolicyVersion.active))).all()
        versions = sorted((await session.exec(select(PolicyVersion.version))).all())
    assert [v.version for v in live] == [3] and versions == [1, 2, 3]


async def test_rollback_from_a_stale_history_page_is_refused(client, db) -> None:
    """Two browsers: one opens the history while v2 is live, the other publishes v3; the
    first one's rollback to v1 is refused with the reason, and v3 stays live."""
    await seed_shop(db)
    await login(client, db)
    editor = await client.get("/merchant/policy")
    published = await post(
        client,
        "/merchant/policy/publish",
        {
            "text": DEFAULT_POLICY.replace("days: 30", "days: 45", 1),
            "base_version": base_version(editor.text),
        },
    )
    assert published.status_code == 303
    history = await client.get("/merchant/policy/history")
    assert 'name="base_version" value="2"' in history.text
    async with another_browser(client) as other:
        await login(other, db, "noah@shop.example", "admin")
        page = await other.get("/merchant/policy")
        newer = await post(
            other,
            "/merchant/policy/publish",
            {
                "text": DEFAULT_POLICY.replace("days: 30", "days: 60", 1),
                "base_version": base_version(page.text),
            },
        )
        assert newer.status_code == 303
    stale = await post(client, "/merchant/policy/rollback/1", {"base_version": "2"})
    assert stale.status_code == 400
    assert (
        "Not rolled back. Version 3 went live (by noah@shop.example) after you opened" in stale.text
    )
    assert 'name="base_version" value="3"' in stale.text  # the page shown is current again
    async with db.session() as session:
        live = (await session.exec(select(PolicyVersion).where(PolicyVersion.active))).all()
        actions = (
            await session.exec(
                select(AuditEvent.action).where(AuditEvent.entity_type == "policy_version")
            )
        ).all()
    assert [v.version for v in live] == [3] and "rolled_back" not in actions
    missing_base = await post(client, "/merchant/policy/rollback/1", {})
    assert missing_base.status_code == 400 and "Reload the history" in missing_base.text
