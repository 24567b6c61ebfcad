"""Tables of moderation: reports, which are the review queue.

A report names its target by type and id (``target_id`` is text: rooms are named by slug, the
rest by their integer id); the target's own table carries whether it is hidden (works, forum,
collab, accounts own those columns). A report without a reporter is a pre-review item: a new
account's post held until a moderator approves it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, Integer, String, Text
from sqlmodel import Field, SQLModel

from hub.db import UTCDateTime, now_field


class TargetType(StrEnum):
    work = "work"
    thread = "thread"
    comment = "comment"
    room = "room"
    user = "user"


class ReportState(StrEnum):
    open = "open"
    resolved = "resolved"


class Resolution(StrEnum):
    hide = "hide"
    dismiss = "dismiss"
    approve = "approve"  # a held post is released


class Report(SQLModel, table=True):
    __tablename__ = "reports"
    __table_args__ = (
        # The queue: open reports, optionally of one target type, oldest first by id.
        Index("ix_reports_queue", "state", "target_type", "report_id"),
        # A target's open reports (resolved together; one open report per reporter).
        Index("ix_reports_target", "target_type", "target_id", "state"),
        CheckConstraint("state IN ('open', 'resolved')", name="ck_reports_state"),
        CheckConstraint(
            "target_type IN ('work', 'thread', 'comment', 'room', 'user')",
            name="ck_reports_target_type",
        ),
    )

    report_id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    # None: a pre-review item (the hub itself put it on the queue).
    reporter_id: int | None = Field(
        default=None,
        sa_column=Column(
            Integer,
            ForeignKey("users.user_id", ondelete="CASCADE", name="fk_reports_reporter_id_users"),
            nullable=True,
        ),
    )
    target_type: str = Field(sa_column=Column(String(16), nullable=False))
    target_id: str = Field(sa_column=Column(String(128), nullable=False))
    reason: str = Field(sa_column=Column(Text, nullable=False))
    state: str = Field(default=ReportState.open.value, sa_column=Column(String(16), nullable=False))
    resolution: str | None = Field(default=None, sa_column=Column(String(16), nullable=True))
    resolution_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # No foreign key: the audit log keeps who did it even after the moderator's account goes.
    resolved_by: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    created_at: datetime = now_field()
    resolved_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
