"""Recording and reading the audit log (hub/audit/models.py).

Every domain that changes something on behalf of an admin or a moderator calls :func:`record`
inside the same transaction as the change, so the entry exists exactly when the change does.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.audit.models import AuditEntry

ACTION_MAX = 64
TARGET_TYPE_MAX = 32
TARGET_ID_MAX = 64


async def record(
    session: AsyncSession,
    *,
    actor_id: int | None,
    action: str,
    target_type: str,
    target_id: int | str,
    before: Any = None,
    after: Any = None,
    reason: str | None = None,
) -> AuditEntry:
    """Add one entry in the caller's transaction. ``before``/``after`` are JSON-able snapshots
    of what changed (only the fields that changed, by convention), ``action`` a dotted name
    such as ``user.disable`` or ``credits.adjust``."""
    if not action or len(action) > ACTION_MAX:
        raise ValueError(f"audit action must be 1..{ACTION_MAX} characters: {action!r}")
    if not target_type or len(target_type) > TARGET_TYPE_MAX:
        raise ValueError(f"audit target type must be 1..{TARGET_TYPE_MAX} characters")
    entry = AuditEntry(
        actor_id=actor_id,
        action=action,
        target_type=target_type,
        target_id=str(target_id)[:TARGET_ID_MAX],
        before=before,
        after=after,
        reason=reason or None,
    )
    session.add(entry)
    await session.flush()
    return entry


async def entries(
    session: AsyncSession,
    *,
    actor_id: int | None = None,
    action: str | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> Sequence[AuditEntry]:
    """Newest first; ``before_id`` is the cursor (the last id of the previous page). ``action``
    ending in ``.`` matches a family (``user.`` → ``user.disable``, ``user.role`` ...)."""
    table = AuditEntry.__table__  # type: ignore[attr-defined]
    stmt = select(AuditEntry).order_by(table.c.audit_id.desc()).limit(limit)
    if actor_id is not None:
        stmt = stmt.where(table.c.actor_id == actor_id)
    if action:
        if action.endswith("."):
            stmt = stmt.where(table.c.action.startswith(action, autoescape=True))
        else:
            stmt = stmt.where(table.c.action == action)
    if target_type:
        stmt = stmt.where(table.c.target_type == target_type)
    if target_id:
        stmt = stmt.where(table.c.target_id == target_id)
    if since is not None:
        stmt = stmt.where(table.c.created_at >= since)
    if until is not None:
        stmt = stmt.where(table.c.created_at < until)
    if before_id is not None:
        stmt = stmt.where(table.c.audit_id < before_id)
    return (await session.execute(stmt)).scalars().all()
