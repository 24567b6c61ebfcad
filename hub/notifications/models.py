"""The notifications table: one row per notice to one user, read or unread.

Rows are written in the transaction of what caused them (a reply, a follow, a finished job), so a
rollback takes the notice with it, and delivered live only after the commit (ADR 0001).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    text,
)
from sqlmodel import Field, SQLModel

from hub.db import UTCDateTime, now_field

# SQLite only auto-increments an INTEGER PRIMARY KEY; Postgres gets a 64-bit id.
_BIG_ID = BigInteger().with_variant(Integer(), "sqlite")

KINDS = ("reply", "mention", "like", "follow", "new_work", "job_finished", "remix", "moderation")
UNREAD_WHERE = "read_at IS NULL"


class Notification(SQLModel, table=True):
    __tablename__ = "notifications"
    __table_args__ = (
        CheckConstraint(
            "kind IN (" + ", ".join(f"'{k}'" for k in KINDS) + ")", name="ck_notifications_kind"
        ),
        # The list, newest first, cursor order (created_at, id).
        Index(
            "ix_notifications_recipient_created", "recipient_id", "created_at", "notification_id"
        ),
        # The unread count (every page's bell) reads only unread rows.
        Index(
            "ix_notifications_unread",
            "recipient_id",
            sqlite_where=text(UNREAD_WHERE),
            postgresql_where=text(UNREAD_WHERE),
        ),
        # "Did this actor already tell this user about this subject?" (likes, follows).
        Index("ix_notifications_subject", "recipient_id", "subject_type", "subject_id", "kind"),
    )

    notification_id: int | None = Field(
        default=None, sa_column=Column(_BIG_ID, primary_key=True, autoincrement=True)
    )
    recipient_id: int = Field(
        sa_column=Column(
            Integer,
            ForeignKey(
                "users.user_id", ondelete="CASCADE", name="fk_notifications_recipient_id_users"
            ),
            nullable=False,
        )
    )
    kind: str = Field(sa_column=Column(String(16), nullable=False))
    # Who caused it; None for the hub itself (a finished job) or a deleted account.
    actor_id: int | None = Field(
        default=None,
        sa_column=Column(
            Integer,
            ForeignKey(
                "users.user_id", ondelete="SET NULL", name="fk_notifications_actor_id_users"
            ),
            nullable=True,
        ),
    )
    text: str = Field(sa_column=Column(String(500), nullable=False))
    # A path on this hub (never another site): the notice links there.
    url: str = Field(sa_column=Column(String(1000), nullable=False))
    subject_type: str = Field(sa_column=Column(String(32), nullable=False))
    subject_id: str = Field(sa_column=Column(String(64), nullable=False))
    created_at: datetime = now_field()
    read_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
