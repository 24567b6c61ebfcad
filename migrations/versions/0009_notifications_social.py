"""Notifications and the social graph: notices, reactions (likes, favorites) and follows.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UNREAD_WHERE = "read_at IS NULL"
KINDS = "kind IN ('reply', 'mention', 'like', 'follow', 'new_work', 'job_finished')"


def _user_fk(table: str, column: str, ondelete: str = "CASCADE") -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], ["users.user_id"], name=f"fk_{table}_{column}_users", ondelete=ondelete
    )


def _notifications() -> None:
    op.create_table(
        "notifications",
        sa.Column("notification_id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("recipient_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("text", sa.String(500), nullable=False),
        sa.Column("url", sa.String(1000), nullable=False),
        sa.Column("subject_type", sa.String(32), nullable=False),
        sa.Column("subject_id", sa.String(64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("read_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("notification_id", name="pk_notifications"),
        _user_fk("notifications", "recipient_id"),
        _user_fk("notifications", "actor_id", ondelete="SET NULL"),
        sa.CheckConstraint(KINDS, name="ck_notifications_kind"),
    )
    op.create_index(
        "ix_notifications_recipient_created",
        "notifications",
        ["recipient_id", "created_at", "notification_id"],
    )
    op.create_index(
        "ix_notifications_unread",
        "notifications",
        ["recipient_id"],
        sqlite_where=sa.text(UNREAD_WHERE),
        postgresql_where=sa.text(UNREAD_WHERE),
    )
    op.create_index(
        "ix_notifications_subject",
        "notifications",
        ["recipient_id", "subject_type", "subject_id", "kind"],
    )


def _social() -> None:
    op.create_table(
        "reactions",
        sa.Column("user_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("target_type", sa.String(16), nullable=False),
        sa.Column("target_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("user_id", "target_type", "target_id", "kind", name="pk_reactions"),
        _user_fk("reactions", "user_id"),
        sa.CheckConstraint(
            "target_type IN ('work', 'thread', 'comment')", name="ck_reactions_target_type"
        ),
        sa.CheckConstraint("kind IN ('like', 'favorite')", name="ck_reactions_kind"),
    )
    op.create_index(
        "ix_reactions_user_created",
        "reactions",
        ["user_id", "target_type", "kind", "created_at", "target_id"],
    )
    op.create_index("ix_reactions_target", "reactions", ["target_type", "target_id", "kind"])

    op.create_table(
        "follows",
        sa.Column("follower_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("followee_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("follower_id", "followee_id", name="pk_follows"),
        _user_fk("follows", "follower_id"),
        _user_fk("follows", "followee_id"),
        sa.CheckConstraint("follower_id <> followee_id", name="ck_follows_not_self"),
    )
    op.create_index(
        "ix_follows_followee_created", "follows", ["followee_id", "created_at", "follower_id"]
    )
    op.create_index(
        "ix_follows_follower_created", "follows", ["follower_id", "created_at", "followee_id"]
    )


def upgrade() -> None:
    _notifications()
    _social()


def downgrade() -> None:
    op.drop_index("ix_follows_follower_created", table_name="follows")
    op.drop_index("ix_follows_followee_created", table_name="follows")
    op.drop_table("follows")
    op.drop_index("ix_reactions_target", table_name="reactions")
    op.drop_index("ix_reactions_user_created", table_name="reactions")
    op.drop_table("reactions")
    op.drop_index("ix_notifications_subject", table_name="notifications")
    op.drop_index("ix_notifications_unread", table_name="notifications")
    op.drop_index("ix_notifications_recipient_created", table_name="notifications")
    op.drop_table("notifications")
