"""Tables of the forum: categories, threads, comments (a reply tree) and edit history.

Counters (comments, likes, views) live on their rows and move with ``UPDATE ... SET n = n + 1``
in the transaction that made the change, so they stay exact under concurrency and a list reads
one table. Deleting is soft (``deleted_at``): a deleted comment keeps its place in the tree, so
the replies under it keep their parents.

Comments are ordered by ``path``: the ids of the comment's ancestors and its own, each as ten
digits, joined without a separator (``0000000003`` then ``00000000030000000007`` for a reply).
Sorting by it gives the reply tree depth first, oldest sibling first, in one indexed range scan,
and a cursor on it stays stable while replies are added elsewhere (docs/forum.md, "Comments").
Digits only, so every collation sorts them the same way.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from hub.db import UTCDateTime, now_field

# Ten digits hold any id of a 32-bit INTEGER primary key (the ids of both databases).
PATH_DIGITS = 10
# Replies nest this deep at most; a reply to a comment at this depth is shown as its sibling.
MAX_DEPTH = 8


def _counter() -> Any:
    return Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))


def _flag() -> Any:
    return Field(default=False, sa_column=Column(Boolean, nullable=False, server_default="0"))


def _user_fk(table: str, column: str, *, nullable: bool = False) -> Column[int]:
    return Column(
        Integer,
        ForeignKey(
            "users.user_id",
            ondelete="SET NULL" if nullable else "CASCADE",
            name=f"fk_{table}_{column}_users",
        ),
        nullable=nullable,
    )


class Category(SQLModel, table=True):
    __tablename__ = "forum_categories"
    __table_args__ = (
        UniqueConstraint("slug", name="uq_forum_categories_slug"),
        Index("ix_forum_categories_position", "position", "category_id"),
    )

    category_id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    # The category's name in URLs (/forum/{slug}) and in works.category; never changes.
    slug: str = Field(sa_column=Column(String(64), nullable=False))
    name: str = Field(sa_column=Column(String(80), nullable=False))
    description: str = Field(default="", sa_column=Column(String(500), nullable=False))
    position: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    created_at: datetime = now_field()
    updated_at: datetime = now_field()


class Thread(SQLModel, table=True):
    __tablename__ = "forum_threads"
    __table_args__ = (
        # Lists: a category's threads, pinned first, then by latest activity (the cursor order).
        Index(
            "ix_forum_threads_category_list",
            "category_id",
            "pinned",
            "last_activity_at",
            "thread_id",
        ),
        Index("ix_forum_threads_list", "pinned", "last_activity_at", "thread_id"),
        Index("ix_forum_threads_author", "author_id", "created_at", "thread_id"),
    )

    thread_id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    category_id: int = Field(
        sa_column=Column(
            Integer,
            ForeignKey(
                "forum_categories.category_id",
                ondelete="RESTRICT",
                name="fk_forum_threads_category_id_forum_categories",
            ),
            nullable=False,
        )
    )
    author_id: int = Field(sa_column=_user_fk("forum_threads", "author_id"))
    title: str = Field(sa_column=Column(String(200), nullable=False))
    # The URL slug from the title (/t/{id}/{slug}); ASCII, never empty.
    slug: str = Field(sa_column=Column(String(120), nullable=False))
    # Markdown source; rendered (and sanitized) when shown.
    body: str = Field(sa_column=Column(Text, nullable=False))
    locked: bool = _flag()
    pinned: bool = _flag()
    comment_count: int = _counter()
    like_count: int = _counter()
    view_count: int = _counter()
    created_at: datetime = now_field()
    updated_at: datetime = now_field()
    last_activity_at: datetime = now_field()
    edited_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    deleted_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    # Moderation: hidden (with the reason shown to the author) or held for pre-review.
    hidden_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    hidden_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    held: bool = _flag()


class Comment(SQLModel, table=True):
    __tablename__ = "forum_comments"
    __table_args__ = (
        # Not unique: the path is set after the insert, when the id is known (it ends with it).
        Index("ix_forum_comments_thread_path", "thread_id", "path"),
        Index("ix_forum_comments_author", "author_id", "created_at", "comment_id"),
        Index("ix_forum_comments_parent", "parent_id"),
        CheckConstraint(f"depth >= 0 AND depth < {MAX_DEPTH}", name="ck_forum_comments_depth"),
    )

    comment_id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    thread_id: int = Field(
        sa_column=Column(
            Integer,
            ForeignKey(
                "forum_threads.thread_id",
                ondelete="CASCADE",
                name="fk_forum_comments_thread_id_forum_threads",
            ),
            nullable=False,
        )
    )
    author_id: int = Field(sa_column=_user_fk("forum_comments", "author_id"))
    # The comment this one answers (None: the thread). Kept even when the display flattens it.
    parent_id: int | None = Field(
        default=None,
        sa_column=Column(
            Integer,
            ForeignKey(
                "forum_comments.comment_id",
                ondelete="CASCADE",
                name="fk_forum_comments_parent_id_forum_comments",
            ),
            nullable=True,
        ),
    )
    # The tree order (module docstring); set right after the insert, when the id is known.
    path: str = Field(default="", sa_column=Column(String(PATH_DIGITS * MAX_DEPTH), nullable=False))
    depth: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    body: str = Field(sa_column=Column(Text, nullable=False))
    like_count: int = _counter()
    created_at: datetime = now_field()
    updated_at: datetime = now_field()
    edited_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    deleted_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    # Moderation: hidden (with the reason shown to the author) or held for pre-review.
    hidden_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    hidden_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    held: bool = _flag()


class Revision(SQLModel, table=True):
    """An earlier version of a thread (title and body) or a comment (body), kept on each edit."""

    __tablename__ = "forum_revisions"
    __table_args__ = (
        CheckConstraint(
            "(thread_id IS NULL) <> (comment_id IS NULL)", name="ck_forum_revisions_subject"
        ),
        Index("ix_forum_revisions_thread", "thread_id", "revision_id"),
        Index("ix_forum_revisions_comment", "comment_id", "revision_id"),
    )

    revision_id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    thread_id: int | None = Field(
        default=None,
        sa_column=Column(
            Integer,
            ForeignKey(
                "forum_threads.thread_id",
                ondelete="CASCADE",
                name="fk_forum_revisions_thread_id_forum_threads",
            ),
            nullable=True,
        ),
    )
    comment_id: int | None = Field(
        default=None,
        sa_column=Column(
            Integer,
            ForeignKey(
                "forum_comments.comment_id",
                ondelete="CASCADE",
                name="fk_forum_revisions_comment_id_forum_comments",
            ),
            nullable=True,
        ),
    )
    # Who made the edit that replaced this version (the author or a moderator).
    editor_id: int | None = Field(
        default=None, sa_column=_user_fk("forum_revisions", "editor_id", nullable=True)
    )
    title: str | None = Field(default=None, sa_column=Column(String(200), nullable=True))
    body: str = Field(sa_column=Column(Text, nullable=False))
    # When this version was written (the thread's or comment's created_at or previous edit).
    written_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    created_at: datetime = now_field()
