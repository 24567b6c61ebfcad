"""The audit log: one row per admin or moderator action and per credit adjustment.

Rows are only ever inserted. The migration adds triggers on both databases that refuse UPDATE
and DELETE, so "append-only" holds even against a bug (or a person with a SQL prompt who goes
through the application's role); see docs/decisions/0027-audit-log.md.

``actor_id`` has no foreign key on purpose: deleting a user must not rewrite (or be blocked by)
the history of what they did, and a foreign key with ``ON DELETE SET NULL`` would be an UPDATE
the triggers refuse.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Integer, String, Text
from sqlmodel import Field, SQLModel

from hub.db import now_field


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit_log"
    __table_args__ = (
        # The list is newest first with an id cursor; filters narrow by actor, action or target.
        Index("ix_audit_log_actor", "actor_id", "audit_id"),
        Index("ix_audit_log_action", "action", "audit_id"),
        Index("ix_audit_log_target", "target_type", "target_id", "audit_id"),
        Index("ix_audit_log_created", "created_at"),
    )

    audit_id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    created_at: datetime = now_field()
    # None for the system itself (a webhook, a command-line run without a user).
    actor_id: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    action: str = Field(sa_column=Column(String(64), nullable=False))
    target_type: str = Field(sa_column=Column(String(32), nullable=False))
    target_id: str = Field(sa_column=Column(String(64), nullable=False))
    before: Any = Field(default=None, sa_column=Column(JSON, nullable=True))
    after: Any = Field(default=None, sa_column=Column(JSON, nullable=True))
    reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
