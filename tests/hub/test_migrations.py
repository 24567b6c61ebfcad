"""One Alembic history, valid on SQLite and Postgres: upgrade, downgrade to base, upgrade again,
and the migrated schema matches the models (so nobody ships a model without its migration)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine as create_sync_engine

from hub import migrate
from hub.models import metadata
from hub.search.models import is_engine_table
from tests.databases import scratch_postgres, with_driver

ROOT = Path(__file__).resolve().parents[2]


def _schema_diff(sync_url: str) -> list[object]:
    engine = create_sync_engine(sync_url)
    try:
        with engine.connect() as conn:
            # SQLite's FTS5 search table and its shadow tables are made by migration 0008
            # by hand and are no model (hub/search/models.py).
            opts = {
                "compare_type": True,
                "include_name": lambda name, type_, _parents: (
                    not (type_ == "table" and is_engine_table(name))
                ),
            }
            context = MigrationContext.configure(conn, opts=opts)
            diffs = compare_metadata(context, metadata)
    finally:
        engine.dispose()
    # SQLite reflects no comments and some server defaults differently; keep real differences.
    return [d for d in diffs if not (isinstance(d, tuple) and d and d[0] == "modify_comment")]


def _roundtrip(async_url: str) -> None:
    migrate.upgrade(async_url, "head")
    migrate.downgrade(async_url, "base")
    migrate.upgrade(async_url, "head")


def test_migrations_roundtrip_on_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite3"
    _roundtrip(f"sqlite+aiosqlite:///{path}")
    assert _schema_diff(f"sqlite:///{path}") == []


@pytest.mark.postgres
def test_migrations_roundtrip_on_postgres() -> None:
    with scratch_postgres("hub_mig") as url:
        _roundtrip(with_driver(url, "asyncpg"))
        assert _schema_diff(with_driver(url, "psycopg")) == []


def _migrate_at_once(env: dict[str, str], processes: int = 2) -> list[tuple[int, str]]:
    """Starts ``hub migrate`` ``processes`` times at once, as replicas starting together do."""
    started = [
        subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "migrate", "upgrade"],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for _ in range(processes)
    ]
    results = []
    for process in started:
        out, _ = process.communicate(timeout=60)
        results.append((process.returncode, out.decode(errors="replace")[-2000:]))
    return results


@pytest.mark.postgres
@pytest.mark.slow
def test_processes_that_start_at_once_on_an_empty_postgres_all_migrate() -> None:
    """Both auto-migrate; without serialisation one crashed on a duplicate alembic_version
    (2 of 3 rounds here)."""
    for _ in range(3):
        with scratch_postgres("hub_mig") as url:
            results = _migrate_at_once({"DATABASE_URL": url})
            assert [code for code, _ in results] == [0, 0], results
            assert _schema_diff(with_driver(url, "psycopg")) == []


@pytest.mark.slow
def test_processes_that_start_at_once_on_an_empty_sqlite_file_all_migrate(
    tmp_path: Path,
) -> None:
    for attempt in range(3):
        path = tmp_path / f"m{attempt}.sqlite3"
        results = _migrate_at_once({"DATABASE_URL": f"sqlite+aiosqlite:///{path}"})
        assert [code for code, _ in results] == [0, 0], results
        assert _schema_diff(f"sqlite:///{path}") == []
