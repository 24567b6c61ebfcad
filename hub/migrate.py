"""Run Alembic migrations programmatically (``hub migrate`` and the embedded auto-migrate)."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config

from hub.settings import Settings

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolation: escape %.
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    cfg.attributes["configure_logger"] = False
    return cfg


@contextlib.contextmanager
def _one_at_a_time(database_url: str) -> Iterator[None]:
    """Serialises migrations of one SQLite file across processes (a lock file next to it):
    SQLite runs DDL outside transactions, so two processes starting at once on an empty file
    would both create the tables. Postgres serialises in ``migrations/env.py`` (an advisory
    lock held by the migration's own transaction)."""
    path = database_url.split(":///", 1)[1] if ":///" in database_url else ""
    if not database_url.startswith("sqlite") or not path or path == ":memory:":
        yield
        return
    lock_path = Path(path.split("?", 1)[0] + ".migrate-lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def upgrade(database_url: str, revision: str = "head") -> None:
    with _one_at_a_time(database_url):
        command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    with _one_at_a_time(database_url):
        command.downgrade(alembic_config(database_url), revision)


async def upgrade_async(settings: Settings, revision: str = "head") -> None:
    # env.py drives its own event loop (asyncio.run), so it needs a thread of its own.
    await asyncio.to_thread(upgrade, settings.effective_database_url, revision)
