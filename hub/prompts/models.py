"""Tables of the prompt library: templates, their versions, tags and favorites.

A template's row holds its current version (the fields below ``version``); every edit also adds
a ``prompt_versions`` row, so the history is complete from version 1 and a restore is a copy of
an old row as the newest. ``prompt_tags`` repeats the current tags one per row so that "templates
with this tag" is an indexed lookup on both databases (the JSON ``tags`` column keeps their
order for display). ``usage_count`` and ``favorite_count`` move by ``UPDATE ... SET n = n + 1``
in the transaction that records the use or the favorite, so they stay exact under concurrency.
``touched_at`` changes with anything the suggestion index reads (docs/prompts.md).
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
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlmodel import Field, SQLModel

from hub.db import UTCDateTime, now_field


class PromptVisibility(StrEnum):
    public = "public"  # listed, found by search and suggestions, usable by anyone signed in
    private = "private"  # its author only


def _counter() -> Any:
    return Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))


def _prompt_fk(table: str) -> ForeignKey:
    return ForeignKey(
        "prompt_templates.prompt_id", ondelete="CASCADE", name=f"fk_{table}_prompt_id_prompts"
    )


class PromptTemplate(SQLModel, table=True):
    __tablename__ = "prompt_templates"
    __table_args__ = (
        # Lists: newest and most used, site-wide, per author and per category.
        Index("ix_prompt_templates_visible_created", "visibility", "created_at", "prompt_id"),
        Index("ix_prompt_templates_visible_usage", "visibility", "usage_count", "prompt_id"),
        Index("ix_prompt_templates_author_created", "author_id", "created_at", "prompt_id"),
        Index("ix_prompt_templates_category_created", "category", "created_at", "prompt_id"),
        # The suggestion index reads what changed since its last look.
        Index("ix_prompt_templates_touched", "touched_at"),
        CheckConstraint(
            "visibility IN ('public', 'private')", name="ck_prompt_templates_visibility"
        ),
    )

    prompt_id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    author_id: int = Field(
        sa_column=Column(
            Integer,
            ForeignKey(
                "users.user_id", ondelete="CASCADE", name="fk_prompt_templates_author_id_users"
            ),
            nullable=False,
        )
    )
    title: str = Field(sa_column=Column(String(200), nullable=False))
    body: str = Field(sa_column=Column(Text, nullable=False))
    negative_prompt: str = Field(default="", sa_column=Column(Text, nullable=False))
    category: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # Room parameters the template sets when used (model, size, steps, seed, strength, count).
    params: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    visibility: str = Field(sa_column=Column(String(16), nullable=False))
    # Curated by admins; only public templates are official.
    official: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    version: int = Field(default=1, sa_column=Column(Integer, nullable=False))
    usage_count: int = _counter()
    favorite_count: int = _counter()
    created_at: datetime = now_field()
    updated_at: datetime = now_field()
    touched_at: datetime = now_field()
    deleted_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))


class PromptVersion(SQLModel, table=True):
    __tablename__ = "prompt_versions"

    prompt_id: int = Field(
        sa_column=Column(Integer, _prompt_fk("prompt_versions"), primary_key=True)
    )
    version: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    editor_id: int | None = Field(
        default=None,
        sa_column=Column(
            Integer,
            ForeignKey(
                "users.user_id", ondelete="SET NULL", name="fk_prompt_versions_editor_id_users"
            ),
            nullable=True,
        ),
    )
    title: str = Field(sa_column=Column(String(200), nullable=False))
    body: str = Field(sa_column=Column(Text, nullable=False))
    negative_prompt: str = Field(default="", sa_column=Column(Text, nullable=False))
    category: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    params: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # The version this one copies when it was made by a restore.
    restored_from: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    created_at: datetime = now_field()


class PromptTag(SQLModel, table=True):
    __tablename__ = "prompt_tags"
    __table_args__ = (Index("ix_prompt_tags_tag", "tag", "prompt_id"),)

    prompt_id: int = Field(sa_column=Column(Integer, _prompt_fk("prompt_tags"), primary_key=True))
    tag: str = Field(sa_column=Column(String(32), primary_key=True))


class PromptFavorite(SQLModel, table=True):
    __tablename__ = "prompt_favorites"
    __table_args__ = (
        Index("ix_prompt_favorites_user_created", "user_id", "created_at", "prompt_id"),
        Index("ix_prompt_favorites_prompt", "prompt_id"),
    )

    user_id: int = Field(
        sa_column=Column(
            Integer,
            ForeignKey(
                "users.user_id", ondelete="CASCADE", name="fk_prompt_favorites_user_id_users"
            ),
            primary_key=True,
        )
    )
    prompt_id: int = Field(
        sa_column=Column(Integer, _prompt_fk("prompt_favorites"), primary_key=True)
    )
    created_at: datetime = now_field()
