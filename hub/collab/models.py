"""Collab tables: rooms as a product (rooms, members, invites) and the document store.

The store tables (``room_updates``, ``room_snapshots``, ``room_events``, ``room_seq``) are keyed
by the realtime core's room id, which is the room's ``slug``. They carry no foreign key to
``rooms`` on purpose: the store implements ``rooms.store.DocumentStore`` and must work for any
room id the core hands it (the contract tests use arbitrary ids).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from hub.db import UTCDateTime, now_field
from rooms.types import Role

# SQLite only auto-increments an "INTEGER PRIMARY KEY"; Postgres gets a 64-bit identity.
BigId = BigInteger().with_variant(Integer(), "sqlite")

ROOM_KEY_LENGTH = 128  # rooms.types.ROOM_ID_RE allows 128 characters


class Visibility(StrEnum):
    public = "public"  # listed; any logged-in user may watch (anonymous too if allowed)
    unlisted = "unlisted"  # not listed; logged-in users with the link may watch
    private = "private"  # members only; 404 to everyone else


class RoomStatus(StrEnum):
    """A room record's ``state`` column. Not :class:`rooms.room.RoomState`, which is whether a
    live room is loading, ready or unloading in one process."""

    open = "open"
    closed = "closed"  # no sockets; readable
    archived = "archived"  # "deleted" by its owner: hidden, readable by the owner only


class Payer(StrEnum):
    member = "member"  # whoever starts a generation pays
    owner = "owner"  # the room owner pays for everyone's generations


class RoleColumn(TypeDecorator[Role]):
    """A room role: stored as its value in ``String(16)`` (the migrations' DDL), read back as
    :class:`rooms.types.Role`, the one room-role type of the core and the hub."""

    impl = String(16)
    cache_ok = True

    def process_bind_param(self, value: Role | None, dialect: Any) -> str | None:
        return None if value is None else Role(value).value

    def process_result_value(self, value: str | None, dialect: Any) -> Role | None:
        return None if value is None else Role(value)


def _optional_ts() -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime, nullable=True))


class RoomRecord(SQLModel, table=True):
    """A room as a product: title, owner, visibility, status. The live room (document, sockets,
    presence) is :class:`rooms.room.Room`; both are keyed by ``slug`` (the core's room id)."""

    __tablename__ = "rooms"
    __table_args__ = (
        UniqueConstraint("slug", name="uq_rooms_slug"),
        Index("ix_rooms_created", "created_at", "room_id"),
        Index("ix_rooms_owner", "owner_id"),
    )

    room_id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    slug: str = Field(sa_column=Column(String(ROOM_KEY_LENGTH), nullable=False))
    title: str = Field(sa_column=Column(String(120), nullable=False))
    description: str = Field(default="", sa_column=Column(Text, nullable=False))
    visibility: str = Field(
        default=Visibility.private, sa_column=Column(String(16), nullable=False)
    )
    allow_anonymous_view: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    owner_id: int = Field(
        sa_column=Column(
            Integer,
            ForeignKey("users.user_id", name="fk_rooms_owner", ondelete="CASCADE"),
            nullable=False,
        )
    )
    state: str = Field(default=RoomStatus.open, sa_column=Column(String(16), nullable=False))
    payer: str = Field(default=Payer.member, sa_column=Column(String(16), nullable=False))
    max_members: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    created_at: datetime = now_field()
    updated_at: datetime = now_field()
    closed_at: datetime | None = _optional_ts()
    # Moderation: a hidden room is out of lists and takes no sockets, joins or invites.
    hidden_at: datetime | None = _optional_ts()
    hidden_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class RoomMember(SQLModel, table=True):
    __tablename__ = "room_members"
    __table_args__ = (
        PrimaryKeyConstraint("room_id", "user_id", name="pk_room_members"),
        Index("ix_room_members_user", "user_id"),
        Index("ix_room_members_joined", "room_id", "joined_at", "user_id"),
    )

    room_id: int = Field(
        sa_column=Column(
            Integer,
            ForeignKey("rooms.room_id", name="fk_room_members_room", ondelete="CASCADE"),
            nullable=False,
        )
    )
    user_id: int = Field(
        sa_column=Column(
            Integer,
            ForeignKey("users.user_id", name="fk_room_members_user", ondelete="CASCADE"),
            nullable=False,
        )
    )
    role: Role = Field(sa_column=Column(RoleColumn, nullable=False))
    joined_at: datetime = now_field()


class RoomInvite(SQLModel, table=True):
    __tablename__ = "room_invites"
    __table_args__ = (
        UniqueConstraint("token_hash", name="uq_room_invites_token"),
        Index("ix_room_invites_room", "room_id", "created_at", "invite_id"),
    )

    invite_id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    room_id: int = Field(
        sa_column=Column(
            Integer,
            ForeignKey("rooms.room_id", name="fk_room_invites_room", ondelete="CASCADE"),
            nullable=False,
        )
    )
    # sha256 hex of the token; the token itself is shown once, at creation.
    token_hash: str = Field(sa_column=Column(String(64), nullable=False))
    role: Role = Field(sa_column=Column(RoleColumn, nullable=False))
    expires_at: datetime | None = _optional_ts()
    max_uses: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    uses: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    revoked_at: datetime | None = _optional_ts()
    created_by: int = Field(
        sa_column=Column(
            Integer,
            ForeignKey("users.user_id", name="fk_room_invites_creator", ondelete="CASCADE"),
            nullable=False,
        )
    )
    created_at: datetime = now_field()


# --- the document store ------------------------------------------------------------------------


class RoomUpdate(SQLModel, table=True):
    """One stored Yjs update. ``(room, writer, batch, idx)`` makes a retried batch a no-op."""

    __tablename__ = "room_updates"
    __table_args__ = (
        UniqueConstraint("room", "writer", "batch", "idx", name="uq_room_updates_batch"),
        Index("ix_room_updates_room", "room", "update_id"),
    )

    update_id: int | None = Field(
        default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True)
    )
    room: str = Field(sa_column=Column(String(ROOM_KEY_LENGTH), nullable=False))
    writer: str = Field(sa_column=Column(String(64), nullable=False))
    batch: int = Field(sa_column=Column(BigInteger, nullable=False))
    idx: int = Field(sa_column=Column(Integer, nullable=False))
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    author_id: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    created_at: datetime = now_field()


class RoomSnapshot(SQLModel, table=True):
    """A merged document state. ``parent_id`` is the snapshot it was computed on (0: none);
    UNIQUE(room, parent_id) keeps the history linear: of two compactions from the same base only
    one can commit, and a compaction from a stale base always collides (that is the lock)."""

    __tablename__ = "room_snapshots"
    __table_args__ = (
        UniqueConstraint("room", "parent_id", name="uq_room_snapshots_parent"),
        Index("ix_room_snapshots_room", "room", "snapshot_id"),
    )

    snapshot_id: int | None = Field(
        default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True)
    )
    room: str = Field(sa_column=Column(String(ROOM_KEY_LENGTH), nullable=False))
    parent_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    state: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    authors: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    update_count: int = Field(sa_column=Column(Integer, nullable=False))
    created_at: datetime = now_field()


class RoomEvent(SQLModel, table=True):
    """A persisted event of a room's stream (chat messages, job progress, notices)."""

    __tablename__ = "room_events"
    __table_args__ = (
        PrimaryKeyConstraint("room", "seq", name="pk_room_events"),
        Index("ix_room_events_type", "room", "type", "seq"),
        Index("ix_room_events_created", "created_at"),
    )

    room: str = Field(sa_column=Column(String(ROOM_KEY_LENGTH), nullable=False))
    seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    type: str = Field(sa_column=Column(String(64), nullable=False))
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = now_field()


class RoomSeq(SQLModel, table=True):
    """Per-room event counter: ``UPDATE ... SET last_seq = last_seq + 1 RETURNING last_seq``.
    ``trimmed_upto`` is the highest seq the retention job may have deleted (replay horizon)."""

    __tablename__ = "room_seq"

    room: str = Field(sa_column=Column(String(ROOM_KEY_LENGTH), primary_key=True))
    last_seq: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    trimmed_upto: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
