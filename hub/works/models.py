"""Tables of the works domain: a work is one or more finished images published (or drafted) with
the prompt, parameters and history that made them.

Counters (likes, favorites, comments, views, remixes) are denormalized here so that feeds read one
table: the owning services change them with ``UPDATE ... SET n = n + 1`` in the same transaction
that inserted the reaction row, so they stay exact under concurrency (docs/community.md).
Other domains are referenced by id: ``thread_id`` names the work's discussion thread in the forum
(no foreign key: the forum's tables are created by a later migration and a thread is soft-deleted,
never removed), ``room_id`` the room the images came from.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    false,
    text,
)
from sqlmodel import Field, SQLModel

from hub.db import UTCDateTime, now_field


class WorkStatus(StrEnum):
    draft = "draft"  # visible to its author only
    published = "published"


# "May appear in a list": the predicate of the partial feed indexes. Queries repeat it with the
# status as a literal (``hub.works.cards.listed_works``) so that both planners use them.
LISTED_WHERE = "status = 'published' AND deleted_at IS NULL AND hidden_at IS NULL"


# The predicate's own columns close each feed index: SQLite (3.40) still reads them to check
# the query's WHERE terms, and only an index that holds them is covering there. They are the
# same in every row of a partial index (a short text and two nulls), so they cost a few bytes.
LISTED_COLUMNS = ("status", "deleted_at", "hidden_at")


def _listed_index(name: str, *columns: str) -> Index:
    return Index(
        name,
        *columns,
        *LISTED_COLUMNS,
        sqlite_where=text(LISTED_WHERE),
        postgresql_where=text(LISTED_WHERE),
    )


def _counter() -> Any:
    return Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))


class Work(SQLModel, table=True):
    __tablename__ = "works"
    __table_args__ = (
        # Feeds: latest and hot, site-wide and per category, and one author's works (profiles,
        # the following feed), in cursor order (sort key, id). Partial on "listed" (published,
        # not deleted, not hidden) so that a feed page is an index-only ordered scan that skips
        # nothing (docs/community.md, "Reading cheaply"; migration 0012).
        _listed_index("ix_works_listed_latest", "published_at", "work_id"),
        _listed_index("ix_works_listed_hot", "hot_score", "work_id"),
        _listed_index("ix_works_listed_category_latest", "category", "published_at", "work_id"),
        _listed_index("ix_works_listed_category_hot", "category", "hot_score", "work_id"),
        _listed_index("ix_works_listed_author", "author_id", "published_at", "work_id"),
        # An author's own works, drafts included.
        Index("ix_works_author_published", "author_id", "status", "published_at", "work_id"),
        Index("ix_works_parent", "parent_work_id"),
        CheckConstraint("status IN ('draft', 'published')", name="ck_works_status"),
    )

    work_id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    author_id: int = Field(
        sa_column=Column(
            Integer,
            ForeignKey("users.user_id", ondelete="CASCADE", name="fk_works_author_id_users"),
            nullable=False,
        )
    )
    title: str = Field(sa_column=Column(String(200), nullable=False))
    # The URL slug, from the title (`/artwork/{id}/{slug}`); ASCII, may be empty.
    slug: str = Field(default="", sa_column=Column(String(120), nullable=False))
    description: str = Field(default="", sa_column=Column(Text, nullable=False))
    status: str = Field(
        default=WorkStatus.draft.value, sa_column=Column(String(16), nullable=False)
    )
    # A forum category slug (feeds per category); None: uncategorised.
    category: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    room_id: str | None = Field(default=None, sa_column=Column(String(128), nullable=True))
    thread_id: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    # The work this one remixes (its room was seeded from it); the chain survives deletion of a
    # middle work because a deleted work is soft-deleted, never removed.
    parent_work_id: int | None = Field(
        default=None,
        sa_column=Column(
            Integer,
            ForeignKey("works.work_id", ondelete="SET NULL", name="fk_works_parent_work_id_works"),
            nullable=True,
        ),
    )
    model: str = Field(default="", sa_column=Column(String(64), nullable=False))
    prompt: str = Field(default="", sa_column=Column(Text, nullable=False))
    negative_prompt: str = Field(default="", sa_column=Column(Text, nullable=False))
    params: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # The prompt's edit timeline at publish time: [{"at", "user_id", "name", "text", ...}, ...].
    prompt_history: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    cover_image_id: str | None = Field(default=None, sa_column=Column(String(36), nullable=True))
    like_count: int = _counter()
    favorite_count: int = _counter()
    comment_count: int = _counter()
    view_count: int = _counter()
    remix_count: int = _counter()
    # The hot feed's sort key (formula and constants in docs/community.md).
    hot_score: float = Field(
        default=0.0, sa_column=Column(Float, nullable=False, server_default="0")
    )
    created_at: datetime = now_field()
    updated_at: datetime = now_field()
    published_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime, nullable=True)
    )
    deleted_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    # Moderation (hidden works answer 404 to everyone but the author and moderators).
    hidden_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    # Shown to the author of a hidden work; None while ``held`` (waiting for pre-review).
    hidden_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # Held for pre-review (a new account's work): hidden_at is set too, so feeds skip it.
    held: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=false())
    )


class WorkImage(SQLModel, table=True):
    """The images of a work, in the order they are shown."""

    __tablename__ = "work_images"

    work_id: int = Field(
        sa_column=Column(
            Integer,
            ForeignKey("works.work_id", ondelete="CASCADE", name="fk_work_images_work_id_works"),
            primary_key=True,
        )
    )
    image_id: str = Field(
        sa_column=Column(
            String(36),
            ForeignKey(
                "images.image_id", ondelete="CASCADE", name="fk_work_images_image_id_images"
            ),
            primary_key=True,
        )
    )
    position: int = Field(default=0, sa_column=Column(Integer, nullable=False))


class WorkContributor(SQLModel, table=True):
    """Everyone whose edits are in the work's prompt history (and its author)."""

    __tablename__ = "work_contributors"
    __table_args__ = (Index("ix_work_contributors_user", "user_id", "work_id"),)

    work_id: int = Field(
        sa_column=Column(
            Integer,
            ForeignKey(
                "works.work_id", ondelete="CASCADE", name="fk_work_contributors_work_id_works"
            ),
            primary_key=True,
        )
    )
    user_id: int = Field(
        sa_column=Column(
            Integer,
            ForeignKey(
                "users.user_id", ondelete="CASCADE", name="fk_work_contributors_user_id_users"
            ),
            primary_key=True,
        )
    )
    edits: int = _counter()


class WorkRemixRoom(SQLModel, table=True):
    """A room seeded from a work ("Remix"): every work made from the room's images records the
    work as its parent (``Work.parent_work_id``). Keyed by the room's slug, as works name their
    room (migration 0019)."""

    __tablename__ = "work_remix_rooms"
    __table_args__ = (Index("ix_work_remix_rooms_parent", "parent_work_id"),)

    room_id: str = Field(sa_column=Column(String(128), primary_key=True))
    parent_work_id: int = Field(
        sa_column=Column(
            Integer,
            ForeignKey(
                "works.work_id",
                ondelete="CASCADE",
                name="fk_work_remix_rooms_parent_work_id_works",
            ),
            nullable=False,
        )
    )
    remixer_id: int = Field(
        sa_column=Column(
            Integer,
            ForeignKey(
                "users.user_id", ondelete="CASCADE", name="fk_work_remix_rooms_remixer_id_users"
            ),
            nullable=False,
        )
    )
    # The copy of the work's image in the remixer's uploads, when they asked for it.
    source_upload_id: str | None = Field(default=None, sa_column=Column(String(36), nullable=True))
    created_at: datetime = now_field()
