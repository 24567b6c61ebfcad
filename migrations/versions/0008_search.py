"""Search: one index over threads, comments, works, users and images.

Postgres: ``search_documents.tsv`` (tsvector) with a GIN index. SQLite: the FTS5 table
``search_fts`` (trigram tokenizer, external content over ``search_documents``) and the triggers
that keep it in step; they are not models, so schema comparisons skip them
(``hub.search.models.is_engine_table``).

Existing users and library images are indexed here, so that "My images" search keeps working
right after the upgrade; ``hub search reindex`` rebuilds everything from the domains.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)
TSV = postgresql.TSVECTOR().with_variant(sa.Text(), "sqlite")
KIND_CHECK = "kind IN ('thread', 'comment', 'work', 'user', 'image', 'prompt')"

SQLITE_FTS = [
    # External content: the index reads title and body from search_documents (no second copy).
    "CREATE VIRTUAL TABLE search_fts USING fts5("
    "title, body, content='search_documents', content_rowid='doc_id', tokenize='trigram')",
    "CREATE TRIGGER search_documents_ai AFTER INSERT ON search_documents BEGIN "
    "INSERT INTO search_fts(rowid, title, body) VALUES (new.doc_id, new.title, new.body); END",
    "CREATE TRIGGER search_documents_ad AFTER DELETE ON search_documents BEGIN "
    "INSERT INTO search_fts(search_fts, rowid, title, body) "
    "VALUES ('delete', old.doc_id, old.title, old.body); END",
    "CREATE TRIGGER search_documents_au AFTER UPDATE OF title, body ON search_documents BEGIN "
    "INSERT INTO search_fts(search_fts, rowid, title, body) "
    "VALUES ('delete', old.doc_id, old.title, old.body); "
    "INSERT INTO search_fts(rowid, title, body) VALUES (new.doc_id, new.title, new.body); END",
]
SQLITE_FTS_DROP = [
    "DROP TRIGGER IF EXISTS search_documents_au",
    "DROP TRIGGER IF EXISTS search_documents_ad",
    "DROP TRIGGER IF EXISTS search_documents_ai",
    "DROP TABLE IF EXISTS search_fts",
]

# Existing rows, as hub.accounts.indexing and hub.storage.indexing describe them. "simple" is
# the default HUB_SEARCH_LANGUAGE; with another one, run `hub search reindex`.
_USER_VALUES = """
SELECT 'user', CAST(user_id AS VARCHAR(64)), display_name, username || ' ' || bio,
       '/u/' || username, user_id, is_active,
       COALESCE(avatar_url, '/api/v1/users/' || username || '/avatar.svg'), NULL, created_at,
       CURRENT_TIMESTAMP"""
_IMAGE_VALUES = """
SELECT 'image', image_id, '', prompt, '/media/' || key, owner_id, false,
       '/media/' || thumb_key, model, created_at, CURRENT_TIMESTAMP"""
_INSERT = (
    "INSERT INTO search_documents (kind, ref_id, title, body, url, owner_id, public, "
    "image_url, model, created_at, indexed_at"
)
BACKFILL = {
    "sqlite": [
        _INSERT + ")" + _USER_VALUES + " FROM users",
        _INSERT + ")" + _IMAGE_VALUES + " FROM images WHERE deleted_at IS NULL",
    ],
    "postgresql": [
        _INSERT
        + ", tsv)"
        + _USER_VALUES
        + ", setweight(to_tsvector('simple', display_name), 'A')"
        + " || setweight(to_tsvector('simple', username || ' ' || bio), 'B') FROM users",
        _INSERT
        + ", tsv)"
        + _IMAGE_VALUES
        + ", setweight(to_tsvector('simple', prompt), 'B') FROM images WHERE deleted_at IS NULL",
    ],
}


def upgrade() -> None:
    op.create_table(
        "search_documents",
        sa.Column("doc_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("ref_id", sa.String(64), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("url", sa.String(1024), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("category", sa.String(64), nullable=True),
        sa.Column("model", sa.String(64), nullable=True),
        sa.Column("image_url", sa.String(1024), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("indexed_at", TS, nullable=False),
        sa.Column("tsv", TSV, nullable=True),
        sa.PrimaryKeyConstraint("doc_id", name="pk_search_documents"),
        sa.UniqueConstraint("kind", "ref_id", name="uq_search_documents_kind_ref"),
        sa.CheckConstraint(KIND_CHECK, name="ck_search_documents_kind"),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.user_id"],
            name="fk_search_documents_owner_id_users",
            ondelete="SET NULL",
        ),
    )
    op.create_index("ix_search_documents_created", "search_documents", ["created_at", "doc_id"])
    op.create_index(
        "ix_search_documents_kind_created", "search_documents", ["kind", "created_at", "doc_id"]
    )
    op.create_index("ix_search_documents_owner", "search_documents", ["owner_id", "kind"])
    op.create_index(
        "ix_search_documents_tsv",
        "search_documents",
        ["tsv"],
        postgresql_using="gin",
        sqlite_where=sa.text("tsv IS NOT NULL"),
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    if not postgres:
        for statement in SQLITE_FTS:
            op.execute(statement)
    for statement in BACKFILL["postgresql" if postgres else "sqlite"]:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        for statement in SQLITE_FTS_DROP:
            op.execute(statement)
    for index in (
        "ix_search_documents_tsv",
        "ix_search_documents_owner",
        "ix_search_documents_kind_created",
        "ix_search_documents_created",
    ):
        op.drop_index(index, table_name="search_documents")
    op.drop_table("search_documents")
