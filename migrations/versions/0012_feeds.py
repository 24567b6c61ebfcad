"""Feeds: partial indexes on listed works, so that feed pages are index-only ordered scans.

A listed work is published, not deleted and not hidden. The feed indexes of 0007 led with
``status`` and held deleted and hidden works too, so a page had to read each row to skip those;
these hold only what the feeds show (docs/community.md, "Reading cheaply").

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LISTED_WHERE = "status = 'published' AND deleted_at IS NULL AND hidden_at IS NULL"

LISTED_COLUMNS = ["status", "deleted_at", "hidden_at"]
LISTED = {
    "ix_works_listed_latest": ["published_at", "work_id"],
    "ix_works_listed_hot": ["hot_score", "work_id"],
    "ix_works_listed_category_latest": ["category", "published_at", "work_id"],
    "ix_works_listed_category_hot": ["category", "hot_score", "work_id"],
    "ix_works_listed_author": ["author_id", "published_at", "work_id"],
}
REPLACED = {
    "ix_works_status_published": ["status", "published_at", "work_id"],
    "ix_works_status_hot": ["status", "hot_score", "work_id"],
    "ix_works_category_published": ["category", "status", "published_at", "work_id"],
    "ix_works_category_hot": ["category", "status", "hot_score", "work_id"],
}


def upgrade() -> None:
    for name, columns in LISTED.items():
        op.create_index(
            name,
            "works",
            # The predicate's columns too: SQLite reads them to check the WHERE terms, so only
            # with them is the index covering there (hub/works/models.py).
            [*columns, *LISTED_COLUMNS],
            sqlite_where=sa.text(LISTED_WHERE),
            postgresql_where=sa.text(LISTED_WHERE),
        )
    for name in REPLACED:
        op.drop_index(name, table_name="works")


def downgrade() -> None:
    for name, columns in REPLACED.items():
        op.create_index(name, "works", columns)
    for name in LISTED:
        op.drop_index(name, table_name="works")
