"""Remix chain: the rooms seeded from a work (``work_remix_rooms``), and ``remix`` notices.

A remix room records the work it was seeded from; a work made from that room's images gets the
room's parent as ``works.parent_work_id`` (the column came with 0007). The notification kinds'
CHECK gains ``remix`` (SQLite rebuilds the table for that, keeping its rows and indexes).

Revision ID: 0019
Revises: 0017
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_KINDS = ("reply", "mention", "like", "follow", "new_work", "job_finished", "moderation")
NEW_KINDS = (*OLD_KINDS, "remix")


def _kinds(kinds: Sequence[str]) -> str:
    return "kind IN (" + ", ".join(f"'{k}'" for k in kinds) + ")"


def _set_kinds(kinds: Sequence[str]) -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.drop_constraint("ck_notifications_kind", type_="check")
        batch.create_check_constraint("ck_notifications_kind", _kinds(kinds))


def upgrade() -> None:
    op.create_table(
        "work_remix_rooms",
        sa.Column("room_id", sa.String(128), nullable=False),
        sa.Column("parent_work_id", sa.Integer(), nullable=False),
        sa.Column("remixer_id", sa.Integer(), nullable=False),
        sa.Column("source_upload_id", sa.String(36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("room_id", name="pk_work_remix_rooms"),
        sa.ForeignKeyConstraint(
            ["parent_work_id"],
            ["works.work_id"],
            name="fk_work_remix_rooms_parent_work_id_works",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["remixer_id"],
            ["users.user_id"],
            name="fk_work_remix_rooms_remixer_id_users",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_work_remix_rooms_parent", "work_remix_rooms", ["parent_work_id"])
    _set_kinds(NEW_KINDS)


def downgrade() -> None:
    op.execute("DELETE FROM notifications WHERE kind = 'remix'")
    _set_kinds(OLD_KINDS)
    op.drop_index("ix_work_remix_rooms_parent", table_name="work_remix_rooms")
    op.drop_table("work_remix_rooms")
