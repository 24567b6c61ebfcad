"""The search index: one row per searchable thing of any domain (thread, comment, work, user,
image), written by the owning domain through :func:`hub.search.service.index_document`.

The full-text part differs by database (docs/search.md, ADR 0012):

* Postgres: the ``tsv`` column (``tsvector``, weights A for the title and B for the body) with a
  GIN index, filled by the service on every write.
* SQLite: the FTS5 table ``search_fts`` (``tokenize='trigram'``, external content: it stores the
  index only, and reads ``title`` and ``body`` from this table), kept in step by triggers.
  SQLite has no ``tsvector``: there ``tsv`` is a plain column that stays NULL.

The FTS5 table and its triggers are made by migration 0008 only: they are not SQLAlchemy
tables, so ``metadata`` (and the Postgres TRUNCATE between tests) never sees them.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
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
    text,
)
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlmodel import Field, SQLModel

from hub.db import UTCDateTime, now_field


class DocKind(StrEnum):
    """What a document is (re-exported by :mod:`hub.search.service`, the domains' entry point)."""

    thread = "thread"
    comment = "comment"
    work = "work"
    user = "user"
    image = "image"
    prompt = "prompt"


# SQLite's FTS5 table over search_documents and the tables SQLite makes for it. They are not
# models: schema comparisons skip them (migrations/env.py, tests/hub/test_migrations.py).
FTS_TABLE = "search_fts"
FTS_SHADOW_SUFFIXES = ("_data", "_idx", "_docsize", "_config", "_content")


def is_engine_table(name: str | None) -> bool:
    """True for the FTS5 table and its shadow tables (SQLite only; never in ``metadata``)."""
    if name is None:
        return False
    return name == FTS_TABLE or any(name == FTS_TABLE + s for s in FTS_SHADOW_SUFFIXES)


# Postgres: tsvector; SQLite: an unused TEXT column, so that one model describes both databases.
TSV_TYPE: Any = TSVECTOR().with_variant(Text(), "sqlite")


class SearchEntry(SQLModel, table=True):
    """One indexed document. ``(kind, ref_id)`` names the row of the owning domain."""

    __tablename__ = "search_documents"
    __table_args__ = (
        UniqueConstraint("kind", "ref_id", name="uq_search_documents_kind_ref"),
        CheckConstraint(
            "kind IN ({})".format(", ".join(f"'{k.value}'" for k in DocKind)),
            name="ck_search_documents_kind",
        ),
        # Browsing without words (newest first), and the tie-break of every result order.
        Index("ix_search_documents_created", "created_at", "doc_id"),
        Index("ix_search_documents_kind_created", "kind", "created_at", "doc_id"),
        # "My images" and other owner-only lookups.
        Index("ix_search_documents_owner", "owner_id", "kind"),
        # GIN on Postgres; on SQLite (tsv always NULL) the partial index stays empty.
        Index(
            "ix_search_documents_tsv",
            "tsv",
            postgresql_using="gin",
            sqlite_where=text("tsv IS NOT NULL"),
        ),
    )

    # The FTS5 rowid on SQLite (content_rowid), so it must stay an INTEGER PRIMARY KEY.
    doc_id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    kind: str = Field(sa_column=Column(String(16), nullable=False))
    ref_id: str = Field(sa_column=Column(String(64), nullable=False))
    title: str = Field(default="", sa_column=Column(Text, nullable=False))
    body: str = Field(default="", sa_column=Column(Text, nullable=False))
    url: str = Field(sa_column=Column(String(1024), nullable=False))
    # SET NULL, not CASCADE: a public thread may outlive its author's account; a private
    # document without an owner is found by nobody, and its domain removes it.
    owner_id: int | None = Field(
        default=None,
        sa_column=Column(
            Integer,
            ForeignKey(
                "users.user_id", ondelete="SET NULL", name="fk_search_documents_owner_id_users"
            ),
            nullable=True,
        ),
    )
    public: bool = Field(sa_column=Column(Boolean, nullable=False))
    category: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    model: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    image_url: str | None = Field(default=None, sa_column=Column(String(1024), nullable=True))
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    # When the row was last written: `hub search reindex` drops what it did not write again.
    indexed_at: datetime = now_field()
    tsv: str | None = Field(default=None, sa_column=Column(TSV_TYPE, nullable=True))
