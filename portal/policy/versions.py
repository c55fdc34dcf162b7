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
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.audit import record
from portal.errors import Conflict
from portal.models.base import table_of
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


class PolicyVersionError(Conflict):
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


async def lock_active_version(session: AsyncSession) -> PolicyVersion | None:
    """Take the policy-version lock and return the live version, as of after the wait.

    Publish and rollback both start with this, so they queue up one behind the other and
    each sees the version the previous one made live. PostgreSQL locks the live row (and
    re-checks ``active`` after waiting: when the row it waited for is no longer live, it
    locks the new live one); SQLite takes its database write lock with a no-op update,
    which must be the transaction's first write (reads before it run outside a transaction
    with the pysqlite driver). The lock is held until the caller commits or rolls back.
    """
    if session.get_bind().dialect.name != "postgresql":
        await session.exec(
            sa.update(PolicyVersion)
            .where(col(PolicyVersion.active))
            .values(id=PolicyVersion.id)
            .execution_options(synchronize_session=False)
        )
        return await active_version(session)
    query = select(PolicyVersion).where(PolicyVersion.active).with_for_update()
    for _ in range(10):
        locked = (await session.exec(query.execution_options(populate_existing=True))).first()
        if locked is not None:
            return locked
        # The live row we waited for was switched off; lock whichever is live now. With no
        # live version at all, the unique version number refuses a second first publish.
        if await active_version(session) is None:
            return None
    raise PolicyVersionError("The policy is being changed right now; reload and try again.")


async def publish(
    session: AsyncSession, text: str, author: str, note: str = "", file: str = "<policy>"
) -> PolicyVersion:
    """Store ``text`` as a new version and make it the active one, in one transaction.

    Raises ``PolicyLoadError`` (nothing stored) when the text does not load. Publishing
    the text that is already active changes nothing and returns the active version.
    """
    policy = compiled(text, file)
    current = await lock_active_version(session)
    if current is not None and current.sha256 == policy.sha256:
        await session.commit()  # nothing written; releases the lock
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
    session: AsyncSession,
    version_number: int,
    author: str,
    note: str = "",
    *,
    expected_current: int | None = None,
) -> PolicyVersion:
    """Make an earlier version the active one again (its text is re-validated first).

    Takes the same lock as ``publish``, so a rollback and a publish never interleave.
    ``expected_current`` is the version the caller saw live (the history page it clicked
    on): when another version went live since, nothing changes and ``PolicyVersionError``
    says so, rather than silently undoing the newer publish. Without it (the CLI), the
    rollback applies to whatever is live.
    """
    current = await lock_active_version(session)
    try:
        if expected_current is not None and (
            current is None or current.version != expected_current
        ):
            live = f"version {current.version}" if current else "no version"
            by = f" (by {current.author})" if current else ""
            raise PolicyVersionError(
                f"{live[0].upper()}{live[1:]} went live{by} after you opened this page, which "
                f"showed version {expected_current} live. Nothing was rolled back; reload the "
                "history and try again if you still want to."
            )
        target = (
            await session.exec(select(PolicyVersion).where(PolicyVersion.version == version_number))
        ).first()
        if target is None:
            raise PolicyVersionError(f"There is no policy version {version_number}.")

        compiled(target.yaml_text, f"v{target.version}")
    except Exception:
        # Release the lock. Nothing was written, and unlike a rollback a commit leaves
        # the caller's loaded objects usable.
        await session.commit()
        raise
    if current is not None and current.id == target.id:
        await session.commit()  # nothing to change; releases the lock
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
        (
            await session.exec(select(PolicyVersion).order_by(col(PolicyVersion.version).desc()))
        ).all()
    )


async def stored_decisions(
    session: AsyncSession, since: datetime | None = None, batch: int = 2000
) -> AsyncIterator[StoredDecision]:
    """Stream past returns' requests and decisions, oldest first, in batches."""
    table = table_of(Return)
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
