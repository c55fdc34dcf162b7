"""Policy versions in the database: publish, refuse bad ones, roll back, backtest the past."""

from __future__ import annotations

import asyncio
import csv
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlmodel import select

from portal.cli import main
from portal.db import Database
from portal.models import AuditEvent, Order, OrderLine, PolicyVersion, Return
from portal.orders import import_orders, order_to_policy_shape, parse_order
from portal.policy import PolicyLoadError, evaluate, parse_request
from portal.policy.versions import (
    DEFAULT_POLICY_FILE,
    PolicyVersionError,
    active_policy,
    ensure_default_policy,
    publish,
    rollback,
)
from tests.factories import order_payload

DEFAULT = DEFAULT_POLICY_FILE.read_text()
STRICTER = DEFAULT.replace("  days: 30\n", "  days: 3\n", 1)
BROKEN = DEFAULT.replace("window:", "windw:", 1)


async def _versions(db) -> list[PolicyVersion]:
    async with db.session() as session:
        return list(
            (await session.exec(select(PolicyVersion).order_by(PolicyVersion.version))).all()
        )


async def test_first_start_activates_the_shipped_default_once(db) -> None:
    async with db.session() as session:
        first = await ensure_default_policy(session)
        again = await ensure_default_policy(session)
    assert first.id == again.id and first.version == 1 and first.active
    assert first.author == "system"


async def test_publish_refuses_a_bad_policy_and_keeps_the_active_one(db) -> None:
    async with db.session() as session:
        await publish(session, DEFAULT, author="ann")
        with pytest.raises(PolicyLoadError) as info:
            await publish(session, BROKEN, author="ann")
    assert any("did you mean `window`" in str(e) for e in info.value.errors)
    versions = await _versions(db)
    assert [(v.version, v.active) for v in versions] == [(1, True)]


async def test_publish_same_text_is_not_a_new_version_and_changes_are_audited(db) -> None:
    async with db.session() as session:
        v1 = await publish(session, DEFAULT, author="ann")
        same = await publish(session, DEFAULT, author="bob")
        v2 = await publish(session, STRICTER, author="bob", note="shorter window")
        events = (
            await session.exec(select(AuditEvent).where(AuditEvent.entity_type == "policy_version"))
        ).all()
    assert same.id == v1.id
    assert v2.version == 2
    assert [(v.version, v.active) for v in await _versions(db)] == [(1, False), (2, True)]
    assert [(e.action, e.from_state, e.to_state) for e in events] == [
        ("published", None, "v1"),
        ("published", "v1", "v2"),
    ]


async def test_rollback_reactivates_an_earlier_version(db) -> None:
    async with db.session() as session:
        await publish(session, DEFAULT, author="ann")
        await publish(session, STRICTER, author="ann")
        await rollback(session, 1, author="ann")
        active = await active_policy(session)
        with pytest.raises(PolicyVersionError, match="no policy version 9"):
            await rollback(session, 9, author="ann")
    assert active.version.version == 1
    assert active.policy.sha256 == active.version.sha256


async def test_concurrent_publishes_leave_exactly_one_active_version(db) -> None:
    async with db.session() as session:
        await publish(session, DEFAULT, author="ann")
    texts = [STRICTER, DEFAULT.replace("bonus_percent: 10", "bonus_percent: 15")]

    async def tab(text: str) -> str:
        async with db.session() as session:
            try:
                await publish(session, text, author="tab")
                return "published"
            except PolicyVersionError:
                return "refused"

    outcomes = await asyncio.gather(*(tab(t) for t in texts))
    versions = await _versions(db)
    assert sum(v.active for v in versions) == 1
    assert len(versions) == 1 + outcomes.count("published")
    assert sorted(v.version for v in versions) == list(range(1, len(versions) + 1))


async def _past_return(url: str, number: str, delivered_days_before_request: int) -> None:
    """A return as the shopper flow stores it: its request and the decision at the time."""
    db = Database(url)
    try:
        await _store_past_return(db, number, delivered_days_before_request)
    finally:
        await db.dispose()


async def _store_past_return(db, number: str, delivered_days_before_request: int) -> None:
    delivered = datetime(2026, 10, 1, 15, tzinfo=UTC)
    payload = order_payload(
        number,
        delivered_at=delivered.isoformat(),
        placed_at=datetime(2026, 9, 25, tzinfo=UTC).isoformat(),
        fulfilled_at=datetime(2026, 9, 26, tzinfo=UTC).isoformat(),
    )
    async with db.session() as session:
        await import_orders(session, [parse_order(payload)], actor="test")
        order = (await session.exec(select(Order).where(Order.number == number))).one()
        lines = list(
            (
                await session.exec(
                    select(OrderLine)
                    .where(OrderLine.order_id == order.id)
                    .order_by(OrderLine.line_ref)
                )
            ).all()
        )
        active = await active_policy(session)
        request = {
            "as_of": datetime(
                2026, 10, 1 + delivered_days_before_request, 12, tzinfo=UTC
            ).isoformat(),
            "order": order_to_policy_shape(order, lines, None),
            "items": [{"line_id": "L1", "quantity": 1, "reason": "changed_mind"}],
        }
        decision = evaluate(active.policy, parse_request(request)).to_dict()
        session.add(
            Return(
                rma=f"R-{number}",
                order_id=order.id,
                submission_key=number,
                currency="USD",
                policy_version_id=active.version.id,
                request=request,
                decision=decision,
                refund_total=decision["return"]["refund_total"],
            )
        )
        await session.commit()


@pytest.fixture
def cli(settings, monkeypatch):
    monkeypatch.setenv("PORTAL_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("PORTAL_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("PORTAL_SECRET_KEY", settings.secret_key)
    runner = CliRunner()
    return lambda *args: runner.invoke(main, list(args), catch_exceptions=False)


def test_cli_apply_versions_rollback_and_backtest(cli, settings, tmp_path: Path) -> None:
    from tests.support.services import run_async

    good, bad, strict = tmp_path / "good.yaml", tmp_path / "bad.yaml", tmp_path / "strict.yaml"
    good.write_text(DEFAULT)
    bad.write_text(BROKEN)
    strict.write_text(STRICTER)

    applied = cli("policy", "apply", str(good), "--author", "ann", "--note", "launch")
    assert applied.exit_code == 0, applied.output
    assert "active as version 1" in applied.output
    refused = cli("policy", "apply", str(bad))
    assert refused.exit_code == 2
    assert f"{bad}:" in refused.stderr and "did you mean `window`" in refused.stderr
    assert "the active policy is unchanged" in refused.stderr

    run_async(
        _past_return(settings.resolved_database_url, "5001", delivered_days_before_request=2)
    )  # fine either way
    run_async(
        _past_return(settings.resolved_database_url, "5002", delivered_days_before_request=10)
    )  # too late at 3 days

    report_csv = tmp_path / "changed.csv"
    result = cli("policy", "backtest", str(strict), "--csv", str(report_csv))
    assert result.exit_code == 0, result.output
    assert "Replayed 2 returns (2 lines)" in result.output
    assert "lines became ineligible" in result.output
    rows = {r["rma"]: r for r in csv.DictReader(report_csv.open())}
    assert rows["R-5002"]["eligible_before"] == "True"
    assert rows["R-5002"]["eligible_after"] == "False"
    # 5001 stays eligible; only its deadline moves, which the report still shows.
    if "R-5001" in rows:
        assert rows["R-5001"]["eligible_after"] == "True"
        assert "deadline" in rows["R-5001"]["changes"]

    assert cli("policy", "apply", str(strict), "--author", "bob").exit_code == 0
    listed = cli("policy", "versions").output.splitlines()
    assert listed[0].startswith("* v2") and listed[1].startswith("  v1")
    assert "launch" in listed[1]
    assert cli("policy", "rollback", "1").exit_code == 0
    assert cli("policy", "versions").output.splitlines()[1].startswith("* v1")
