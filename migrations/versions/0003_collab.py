"""Collab: rooms, members, invites, documents, events, chat.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite only auto-increments an "INTEGER PRIMARY KEY"; Postgres gets a 64-bit key.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "rooms",
        sa.Column("room_id", sa.Integer(), primary_key=True),
        sa.Column("slug", sa.String(128), nullable=False),
        sa.Column("title", sa.String(120), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("visibility", sa.String(16), nullable=False),
        sa.Column("allow_anonymous_view", sa.Boolean(), nullable=False),
        sa.Column(
            "owner_id",
            sa.Integer(),
            sa.ForeignKey("users.user_id", name="fk_rooms_owner", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("payer", sa.String(16), nullable=False),
        sa.Column("max_members", sa.Integer(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("closed_at", TS, nullable=True),
        sa.UniqueConstraint("slug", name="uq_rooms_slug"),
    )
    op.create_index("ix_rooms_created", "rooms", ["created_at", "room_id"])
    op.create_index("ix_rooms_owner", "rooms", ["owner_id"])

    op.create_table(
        "room_members",
        sa.Column(
            "room_id",
            sa.Integer(),
            sa.ForeignKey("rooms.room_id", name="fk_room_members_room", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "user_id",
            sa.Integer(),
            sa.ForeignKey("users.user_id", name="fk_room_members_user", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("joined_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("room_id", "user_id", name="pk_room_members"),
    )
    op.create_index("ix_room_members_user", "room_members", ["user_id"])
    op.create_index("ix_room_members_joined", "room_members", ["room_id", "joined_at", "user_id"])

    op.create_table(
        "room_invites",
        sa.Column("invite_id", sa.Integer(), primary_key=True),
        sa.Column(
            "room_id",
            sa.Integer(),
            sa.ForeignKey("rooms.room_id", name="fk_room_invites_room", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("expires_at", TS, nullable=True),
        sa.Column("max_uses", sa.Integer(), nullable=True),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.Column("revoked_at", TS, nullable=True),
        sa.Column(
            "created_by",
            sa.Integer(),
            sa.ForeignKey("users.user_id", name="fk_room_invites_creator", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("token_hash", name="uq_room_invites_token"),
    )
    op.create_index("ix_room_invites_room", "room_invites", ["room_id", "created_at", "invite_id"])

    op.create_table(
        "room_updates",
        sa.Column("update_id", BigId, primary_key=True, autoincrement=True),
        sa.Column("room", sa.String(128), nullable=False),
        sa.Column("writer", sa.String(64), nullable=False),
        sa.Column("batch", sa.BigInteger(), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("author_id", sa.String(64), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("room", "writer", "batch", "idx", name="uq_room_updates_batch"),
    )
    op.create_index("ix_room_updates_room", "room_updates", ["room", "update_id"])

    op.create_table(
        "room_snapshots",
        sa.Column("snapshot_id", BigId, primary_key=True, autoincrement=True),
        sa.Column("room", sa.String(128), nullable=False),
        sa.Column("parent_id", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.LargeBinary(), nullable=False),
        sa.Column("authors", sa.JSON(), nullable=False),
        sa.Column("update_count", sa.Integer(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("room", "parent_id", name="uq_room_snapshots_parent"),
    )
    op.create_index("ix_room_snapshots_room", "room_snapshots", ["room", "snapshot_id"])

    op.create_table(
        "room_events",
        sa.Column("room", sa.String(128), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("room", "seq", name="pk_room_events"),
    )
    op.create_index("ix_room_events_type", "room_events", ["room", "type", "seq"])
    op.create_index("ix_room_events_created", "room_events", ["created_at"])

    op.create_table(
        "room_seq",
        sa.Column("room", sa.String(128), primary_key=True),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("trimmed_upto", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("room_seq")
    op.drop_index("ix_room_events_created", table_name="room_events")
    op.drop_index("ix_room_events_type", table_name="room_events")
    op.drop_table("room_events")
    op.drop_index("ix_room_snapshots_room", table_name="room_snapshots")
    op.drop_table("room_snapshots")
    op.drop_index("ix_room_updates_room", table_name="room_updates")
    op.drop_table("room_updates")
    op.drop_index("ix_room_invites_room", table_name="room_invites")
    op.drop_table("room_invites")
    op.drop_index("ix_room_members_joined", table_name="room_members")
    op.drop_index("ix_room_members_user", table_name="room_members")
    op.drop_table("room_members")
    op.drop_index("ix_rooms_owner", table_name="rooms")
    op.drop_index("ix_rooms_created", table_name="rooms")
    op.drop_table("rooms")
