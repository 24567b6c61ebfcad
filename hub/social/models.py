"""Tables of the social graph: reactions (likes, favorites) and follows.

A reaction names its target by type and id (works, threads, comments live in other domains and
their tables), so there is no foreign key to the target; the owner of the target checks that it
exists and may be seen before it calls ``set_reaction``. The primary keys make every reaction and
follow unique, which is what keeps counts exact when a hundred people click at once: a second
insert of the same row does nothing.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, Integer, String
from sqlmodel import Field, SQLModel

from hub.db import now_field

TARGET_TYPES = ("work", "thread", "comment")
REACTION_KINDS = ("like", "favorite")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


class Reaction(SQLModel, table=True):
    __tablename__ = "reactions"
    __table_args__ = (
        CheckConstraint(_in("target_type", TARGET_TYPES), name="ck_reactions_target_type"),
        CheckConstraint(_in("kind", REACTION_KINDS), name="ck_reactions_kind"),
        # A user's favorites (and likes) newest first, cursor order (created_at, target_id).
        Index(
            "ix_reactions_user_created", "user_id", "target_type", "kind", "created_at", "target_id"
        ),
        # Who reacted to one target (recounts, "liked by").
        Index("ix_reactions_target", "target_type", "target_id", "kind"),
    )

    user_id: int = Field(
        sa_column=Column(
            Integer,
            ForeignKey("users.user_id", ondelete="CASCADE", name="fk_reactions_user_id_users"),
            primary_key=True,
            autoincrement=False,
        )
    )
    target_type: str = Field(sa_column=Column(String(16), primary_key=True))
    target_id: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    kind: str = Field(sa_column=Column(String(16), primary_key=True))
    created_at: datetime = now_field()


class Follow(SQLModel, table=True):
    __tablename__ = "follows"
    __table_args__ = (
        CheckConstraint("follower_id <> followee_id", name="ck_follows_not_self"),
        # Followers of a user, and whom a user follows, newest first.
        Index("ix_follows_followee_created", "followee_id", "created_at", "follower_id"),
        Index("ix_follows_follower_created", "follower_id", "created_at", "followee_id"),
    )

    follower_id: int = Field(
        sa_column=Column(
            Integer,
            ForeignKey("users.user_id", ondelete="CASCADE", name="fk_follows_follower_id_users"),
            primary_key=True,
            autoincrement=False,
        )
    )
    followee_id: int = Field(
        sa_column=Column(
            Integer,
            ForeignKey("users.user_id", ondelete="CASCADE", name="fk_follows_followee_id_users"),
            primary_key=True,
            autoincrement=False,
        )
    )
    created_at: datetime = now_field()
