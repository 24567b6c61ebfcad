"""Moderation: reports (the review queue), hide/hold columns on works, threads, comments and
rooms, suspension and trust levels on users, and the prompt block-list.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)

# works already has hidden_at (0007); the others get it here.
_HIDEABLE = ("works", "forum_threads", "forum_comments", "rooms")


def _held() -> sa.Column[bool]:
    return sa.Column("held", sa.Boolean(), server_default=sa.false(), nullable=False)


_KINDS = ("reply", "mention", "like", "follow", "new_work", "job_finished")
_UNREAD_WHERE = "read_at IS NULL"


def _notification_kinds(kinds: tuple[str, ...]) -> None:
    """Moderation tells authors why their post was hidden: one more notification kind."""
    check = "kind IN (" + ", ".join(f"'{k}'" for k in kinds) + ")"
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("ck_notifications_kind", "notifications", type_="check")
        op.create_check_constraint("ck_notifications_kind", "notifications", check)
        return
    # SQLite cannot alter a CHECK: the table is copied. The partial index is made again by
    # hand so that its WHERE survives the copy.
    op.drop_index("ix_notifications_unread", table_name="notifications")
    with op.batch_alter_table("notifications", recreate="always") as batch:
        batch.drop_constraint("ck_notifications_kind", type_="check")
        batch.create_check_constraint("ck_notifications_kind", check)
    op.create_index(
        "ix_notifications_unread",
        "notifications",
        ["recipient_id"],
        sqlite_where=sa.text(_UNREAD_WHERE),
    )


def upgrade() -> None:
    _notification_kinds((*_KINDS, "moderation"))
    for table in _HIDEABLE:
        with op.batch_alter_table(table) as batch:
            if table != "works":
                batch.add_column(sa.Column("hidden_at", TS, nullable=True))
            batch.add_column(sa.Column("hidden_reason", sa.Text(), nullable=True))
            if table != "rooms":
                batch.add_column(_held())
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("trust_level", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("suspended_at", TS, nullable=True))
        batch.add_column(sa.Column("suspended_reason", sa.Text(), nullable=True))
    op.create_table(
        "reports",
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("reporter_id", sa.Integer(), nullable=True),
        sa.Column("target_type", sa.String(16), nullable=False),
        sa.Column("target_id", sa.String(128), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("resolution", sa.String(16), nullable=True),
        sa.Column("resolution_reason", sa.Text(), nullable=True),
        sa.Column("resolved_by", sa.Integer(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("resolved_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("report_id", name="pk_reports"),
        sa.ForeignKeyConstraint(
            ["reporter_id"],
            ["users.user_id"],
            name="fk_reports_reporter_id_users",
            ondelete="CASCADE",
        ),
        sa.CheckConstraint(
            "state IN ('open', 'resolved')",
            name="ck_reports_state",
        ),
        sa.CheckConstraint(
            "target_type IN ('work', 'thread', 'comment', 'room', 'user')",
            name="ck_reports_target_type",
        ),
    )
    op.create_index("ix_reports_queue", "reports", ["state", "target_type", "report_id"])
    op.create_index("ix_reports_target", "reports", ["target_type", "target_id", "state"])
    op.create_table(
        "blocked_terms",
        sa.Column("term_id", sa.Integer(), nullable=False),
        sa.Column("term", sa.String(200), nullable=False),
        sa.Column("term_key", sa.String(200), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("term_id", name="pk_blocked_terms"),
        sa.UniqueConstraint("term_key", name="uq_blocked_terms_term_key"),
    )


def downgrade() -> None:
    op.execute("DELETE FROM notifications WHERE kind = 'moderation'")
    _notification_kinds(_KINDS)
    op.drop_table("blocked_terms")
    op.drop_index("ix_reports_target", table_name="reports")
    op.drop_index("ix_reports_queue", table_name="reports")
    op.drop_table("reports")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("suspended_reason")
        batch.drop_column("suspended_at")
        batch.drop_column("trust_level")
    for table in _HIDEABLE:
        with op.batch_alter_table(table) as batch:
            if table != "rooms":
                batch.drop_column("held")
            batch.drop_column("hidden_reason")
            if table != "works":
                batch.drop_column("hidden_at")
