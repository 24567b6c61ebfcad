"""Search: one full-text engine over threads, comments, works, users and images (Postgres
``tsvector`` with a GIN index, SQLite FTS5 with the trigram tokenizer)."""
