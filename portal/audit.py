"""Audit trail: every state change writes one event in the caller's transaction."""

from __future__ import annotations

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from portal.models.audit import AuditEvent


async def record(
    session: AsyncSession,
    actor: str,
    entity_type: str,
    entity_id: int | None,
    action: str,
    *,
    from_state: str | None = None,
    to_state: str | None = None,
    reason: str = "",
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add an audit event to the session; it commits with the change it describes."""
    if entity_id is None:
        raise ValueError("audit events need a flushed entity id")
    event = AuditEvent(
        actor=actor,
        entity_type=entity_type,
        entity_id=entity_id,
        action=action,
        from_state=from_state,
        to_state=to_state,
        reason=reason,
        data=data or {},
    )
    session.add(event)
    return event
