"""Tables of the storage domain: the image library (generated images) and user uploads.

Files live in the storage backend; these rows say who owns them and what they are. Ids are
time-ordered UUIDs (version 7 layout) and are part of every file's key, so a file can be matched to
its row, and its age read from its name, without a query per file (see :mod:`hub.storage.keys` and
:mod:`hub.storage.cleanup`). Other domains reference users by ``user_id`` only.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Column, ForeignKey, Index, Integer, String, Text
from sqlmodel import Field, SQLModel

from hub.db import UTCDateTime, now_field


class UploadPurpose(StrEnum):
    source = "source"  # an img2img source image
    avatar = "avatar"  # a profile picture (stored as a 256 px square)


def _owner_fk(table: str) -> ForeignKey:
    return ForeignKey("users.user_id", ondelete="CASCADE", name=f"fk_{table}_owner_id_users")


class Image(SQLModel, table=True):
    """One generated image: the original PNG (with its prompt in the metadata), a thumbnail and
    a square, all three keyed under ``images/{job_id}/{index}/{image_id}...``."""

    __tablename__ = "images"
    __table_args__ = (
        # "My images", newest first: the library's cursor order.
        Index("ix_images_owner_created", "owner_id", "created_at", "image_id"),
        # A room's gallery, newest first (hub.storage.gallery).
        Index("ix_images_room_created", "room_id", "created_at", "image_id"),
        # A retried job replaces the rows its earlier attempt stored for the same index.
        Index("ix_images_job_index", "job_id", "index"),
        # Orphan cleanup finds soft-deleted rows past their grace period.
        Index("ix_images_deleted", "deleted_at"),
        CheckConstraint('"index" >= 0', name="ck_images_index_nonneg"),
    )

    image_id: str = Field(sa_column=Column(String(36), primary_key=True))
    owner_id: int = Field(sa_column=Column(Integer, _owner_fk("images"), nullable=False))
    # No foreign key: failed jobs are purged after a while, their images may stay in the library.
    job_id: str = Field(sa_column=Column(String(36), nullable=False))
    room_id: str | None = Field(default=None, sa_column=Column(String(128), nullable=True))
    index: int = Field(sa_column=Column("index", Integer, nullable=False))
    key: str = Field(sa_column=Column(String(512), nullable=False))
    thumb_key: str = Field(sa_column=Column(String(512), nullable=False))
    square_key: str = Field(sa_column=Column(String(512), nullable=False))
    mime: str = Field(sa_column=Column(String(64), nullable=False))
    width: int = Field(sa_column=Column(Integer, nullable=False))
    height: int = Field(sa_column=Column(Integer, nullable=False))
    bytes: int = Field(sa_column=Column(Integer, nullable=False))
    # Decimal text: ComfyUI seeds go up to 2**64 - 1, beyond a signed BIGINT.
    seed: str = Field(sa_column=Column(String(24), nullable=False))
    model: str = Field(sa_column=Column(String(64), nullable=False))
    prompt: str = Field(sa_column=Column(Text, nullable=False))
    negative_prompt: str = Field(default="", sa_column=Column(Text, nullable=False))
    params: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = now_field()
    # Soft delete: the row leaves the library at once, its files go with the orphan cleanup.
    deleted_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))


class Upload(SQLModel, table=True):
    """A file a user uploaded (re-encoded before it was stored)."""

    __tablename__ = "uploads"
    __table_args__ = (
        Index("ix_uploads_owner_created", "owner_id", "created_at", "upload_id"),
        Index("ix_uploads_owner_purpose", "owner_id", "purpose"),
        CheckConstraint("purpose IN ('source', 'avatar')", name="ck_uploads_purpose"),
    )

    upload_id: str = Field(sa_column=Column(String(36), primary_key=True))
    owner_id: int = Field(sa_column=Column(Integer, _owner_fk("uploads"), nullable=False))
    key: str = Field(sa_column=Column(String(512), nullable=False))
    purpose: str = Field(sa_column=Column(String(16), nullable=False))
    mime: str = Field(sa_column=Column(String(64), nullable=False))
    width: int = Field(sa_column=Column(Integer, nullable=False))
    height: int = Field(sa_column=Column(Integer, nullable=False))
    bytes: int = Field(sa_column=Column(Integer, nullable=False))
    created_at: datetime = now_field()
