"""Forum: categories (with the default ones), threads, the comment tree and edit history.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)

# The categories a new hub starts with. A copy of hub.forum.categories.DEFAULT_CATEGORIES as it
# was when this revision was written: a migration must not change when the code does.
DEFAULT_CATEGORIES = (
    ("general", "General", "Anything about making images together.", 0),
    ("showcase", "Showcase", "Works published from rooms, and what people say about them.", 1),
    ("prompts", "Prompt craft", "Prompts, parameters and models: what works and why.", 2),
    ("feedback", "Feedback", "Ideas, questions and bugs about the hub itself.", 3),
)


def _counter(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.Integer(), server_default="0", nullable=False)


def _flag(name: str) -> sa.Column[bool]:
    return sa.Column(name, sa.Boolean(), server_default="0", nullable=False)


def _user_fk(table: str, column: str, ondelete: str = "CASCADE") -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], ["users.user_id"], name=f"fk_{table}_{column}_users", ondelete=ondelete
    )


def _categories() -> None:
    table = op.create_table(
        "forum_categories",
        sa.Column("category_id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(64), nullable=False),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("description", sa.String(500), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("category_id", name="pk_forum_categories"),
        sa.UniqueConstraint("slug", name="uq_forum_categories_slug"),
    )
    op.create_index("ix_forum_categories_position", "forum_categories", ["position", "category_id"])
    now = datetime.now(UTC)
    op.bulk_insert(
        table,
        [
            {
                "slug": slug,
                "name": name,
                "description": description,
                "position": position,
                "created_at": now,
                "updated_at": now,
            }
            for slug, name, description, position in DEFAULT_CATEGORIES
        ],
    )


def _threads() -> None:
    op.create_table(
        "forum_threads",
        sa.Column("thread_id", sa.Integer(), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("slug", sa.String(120), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        _flag("locked"),
        _flag("pinned"),
        _counter("comment_count"),
        _counter("like_count"),
        _counter("view_count"),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("last_activity_at", TS, nullable=False),
        sa.Column("edited_at", TS, nullable=True),
        sa.Column("deleted_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("thread_id", name="pk_forum_threads"),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["forum_categories.category_id"],
            name="fk_forum_threads_category_id_forum_categories",
            ondelete="RESTRICT",
        ),
        _user_fk("forum_threads", "author_id"),
    )
    op.create_index(
        "ix_forum_threads_category_list",
        "forum_threads",
        ["category_id", "pinned", "last_activity_at", "thread_id"],
    )
    op.create_index(
        "ix_forum_threads_list", "forum_threads", ["pinned", "last_activity_at", "thread_id"]
    )
    op.create_index(
        "ix_forum_threads_author", "forum_threads", ["author_id", "created_at", "thread_id"]
    )


def _comments() -> None:
    op.create_table(
        "forum_comments",
        sa.Column("comment_id", sa.Integer(), nullable=False),
        sa.Column("thread_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("path", sa.String(80), nullable=False),
        sa.Column("depth", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        _counter("like_count"),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("edited_at", TS, nullable=True),
        sa.Column("deleted_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("comment_id", name="pk_forum_comments"),
        sa.ForeignKeyConstraint(
            ["thread_id"],
            ["forum_threads.thread_id"],
            name="fk_forum_comments_thread_id_forum_threads",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["forum_comments.comment_id"],
            name="fk_forum_comments_parent_id_forum_comments",
            ondelete="CASCADE",
        ),
        _user_fk("forum_comments", "author_id"),
        sa.CheckConstraint("depth >= 0 AND depth < 8", name="ck_forum_comments_depth"),
    )
    op.create_index(
        "ix_forum_comments_author", "forum_comments", ["author_id", "created_at", "comment_id"]
    )
    op.create_index("ix_forum_comments_parent", "forum_comments", ["parent_id"])
    op.create_index("ix_forum_comments_thread_path", "forum_comments", ["thread_id", "path"])


def _revisions() -> None:
    op.create_table(
        "forum_revisions",
        sa.Column("revision_id", sa.Integer(), nullable=False),
        sa.Column("thread_id", sa.Integer(), nullable=True),
        sa.Column("comment_id", sa.Integer(), nullable=True),
        sa.Column("editor_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(200), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("written_at", TS, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("revision_id", name="pk_forum_revisions"),
        sa.ForeignKeyConstraint(
            ["thread_id"],
            ["forum_threads.thread_id"],
            name="fk_forum_revisions_thread_id_forum_threads",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["comment_id"],
            ["forum_comments.comment_id"],
            name="fk_forum_revisions_comment_id_forum_comments",
            ondelete="CASCADE",
        ),
        _user_fk("forum_revisions", "editor_id", ondelete="SET NULL"),
        sa.CheckConstraint(
            "(thread_id IS NULL) <> (comment_id IS NULL)", name="ck_forum_revisions_subject"
        ),
    )
    op.create_index("ix_forum_revisions_thread", "forum_revisions", ["thread_id", "revision_id"])
    op.create_index("ix_forum_revisions_comment", "forum_revisions", ["comment_id", "revision_id"])


def upgrade() -> None:
    _categories()
    _threads()
    _comments()
    _revisions()


def downgrade() -> None:
    op.drop_index("ix_forum_revisions_comment", table_name="forum_revisions")
    op.drop_index("ix_forum_revisions_thread", table_name="forum_revisions")
    op.drop_table("forum_revisions")
    op.drop_index("ix_forum_comments_thread_path", table_name="forum_comments")
    op.drop_index("ix_forum_comments_parent", table_name="forum_comments")
    op.drop_index("ix_forum_comments_author", table_name="forum_comments")
    op.drop_table("forum_comments")
    for index in (
        "ix_forum_threads_author",
        "ix_forum_threads_list",
        "ix_forum_threads_category_list",
    ):
        op.drop_index(index, table_name="forum_threads")
    op.drop_table("forum_threads")
    op.drop_index("ix_forum_categories_position", table_name="forum_categories")
    op.drop_table("forum_categories")
