"""Stored policy versions: publish, roll back, find the active one, backtest the past.

Exactly one version is active (a partial unique index guarantees it). A policy that does
not load is never stored as a version, so a bad policy can never become active: the
previous one keeps serving.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.audit import record
from portal.models.policy import PolicyVersion
from portal.models.returns import Return
from portal.policy.backtest import BacktestReport, StoredDecision, backtest
from portal.policy.evaluator import CompiledPolicy, compile_policy
from portal.policy.loader import load_policy, policy_sha256

POLICIES_DIR = Path(__file__).resolve().parents[2] / "policies"
DEFAULT_POLICY_FILE = POLICIES_DIR / "default.yaml"

# Compiled policies by text fingerprint. Derived purely from stored text, so every replica
# computes the same thing; nothing here is state another replica needs.
_compiled_cache: dict[str, CompiledPolicy] = {}


class PolicyVersionError(ValueError):
    """A publish or rollback that cannot happen; the message says why."""


def compiled(text: str, file: str = "<policy>") -> CompiledPolicy:
    """Load and compile policy text once per process (raises PolicyLoadError when bad)."""
    digest = policy_sha256(text)
    hit = _compiled_cache.get(digest)
    if hit is None:
        hit = compile_policy(load_policy(text, file), digest)
        if len(_compiled_cache) > 64:
            _compiled_cache.clear()
        _compiled_cache[digest] = hit
    return hit


@dataclass(frozen=True)
class ActivePolicy:
    version: PolicyVersion
    policy: CompiledPolicy


async def active_version(session: AsyncSession) -> PolicyVersion | None:
    return (await session.exec(select(PolicyVersion).where(PolicyVersion.active))).first()


async def active_policy(session: AsyncSession) -> ActivePolicy | None:
    version = await active_version(session)
    if version is None:
        return None
    return ActivePolicy(version=version, policy=compiled(version.yaml_text, f"v{version.version}"))


async def publish(
    session: AsyncSession, text: str, author: str, note: str = "", file: str = "<policy>"
) -> PolicyVersion:
    """Store ``text`` as a new version and make it the active one, in one transaction.

    Raises ``PolicyLoadError`` (nothing stored) when the text does not load. Publishing
    the text that is already active changes nothing and returns the active version.
    """
    policy = compiled(text, file)
    current = await active_version(session)
    if current is not None and current.sha256 == policy.sha256:
        return current
    latest = (await session.exec(select(sa.func.max(PolicyVersion.version)))).one() or 0
    try:
        if current is not None:
            current.active = False
            session.add(current)
            await session.flush()
        version = PolicyVersion(
            version=latest + 1,
            name=policy.name,
            yaml_text=text,
            sha256=policy.sha256,
            author=author,
            note=note,
            active=True,
        )
        session.add(version)
        await session.flush()
        await record(
            session,
            author,
            "policy_version",
            version.id,
            "published",
            from_state=f"v{current.version}" if current else None,
            to_state=f"v{version.version}",
            reason=note,
        )
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise PolicyVersionError(
            "Another version was published at the same moment; reload and try again."
        ) from None
    return version


async def rollback(
    session: AsyncSession, version_number: int, author: str, note: str = ""
) -> PolicyVersion:
    """Make an earlier version the active one again (its text is re-validated first)."""
    target = (
        await session.exec(select(PolicyVersion).where(PolicyVersion.version == version_number))
    ).first()
    if target is None:
        raise PolicyVersionError(f"There is no policy version {version_number}.")
    compiled(target.yaml_text, f"v{target.version}")
    current = await active_version(session)
    if current is not None and current.id == target.id:
        return target
    if current is not None:
        current.active = False
        session.add(current)
        await session.flush()
    target.active = True
    session.add(target)
    await session.flush()
    await record(
        session,
        author,
        "policy_version",
        target.id,
        "rolled_back",
        from_state=f"v{current.version}" if current else None,
        to_state=f"v{target.version}",
        reason=note,
    )
    await session.commit()
    return target


async def ensure_default_policy(
    session: AsyncSession, path: Path = DEFAULT_POLICY_FILE
) -> PolicyVersion:
    """On first start, the shipped default policy becomes version 1."""
    current = await active_version(session)
    if current is not None:
        return current
    return await publish(
        session,
        path.read_text(encoding="utf-8"),
        author="system",
        note=f"initial policy from {path.name}",
        file=str(path),
    )


async def list_versions(session: AsyncSession) -> list[PolicyVersion]:
    return list(
        (await session.exec(select(PolicyVersion).order_by(PolicyVersion.version.desc()))).all()  # type: ignore[attr-defined]
    )


async def stored_decisions(
    session: AsyncSession, since: datetime | None = None, batch: int = 2000
) -> AsyncIterator[StoredDecision]:
    """Stream past returns' requests and decisions, oldest first, in batches."""
    table = Return.__table__
    query = sa.select(table.c.id, table.c.rma, table.c.request, table.c.decision).order_by(
        table.c.id
    )
    if since is not None:
        query = query.where(table.c.created_at >= since)
    result = await session.stream(query.execution_options(yield_per=batch))
    async for row in result:
        if row.request:
            yield StoredDecision(
                return_id=str(row.id), rma=row.rma, request=row.request, decision=row.decision
            )


async def backtest_candidate(
    session: AsyncSession, text: str, since: datetime | None = None, file: str = "<policy>"
) -> BacktestReport:
    """Replay past returns under candidate policy text (raises PolicyLoadError when bad)."""
    candidate = compiled(text, file)
    decisions = [d async for d in stored_decisions(session, since)]
    return backtest(candidate, decisions)
