"""Postgres for tests: a scratch database made and dropped, and emptying a shared one after a test.

The ``pg_database_url`` fixture (``tests/conftest.py``) makes one scratch database per session,
migrated once; each test that used it calls ``truncate_postgres`` when it ends. Migration tests
make their own empty ones with ``scratch_postgres``.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

from tests.helpers import PG_ADMIN_URL, port_open, service_missing

if TYPE_CHECKING:
    from hub.settings import Settings


async def _admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextlib.contextmanager
def scratch_postgres(prefix: str) -> Iterator[str]:
    """A new, empty database named ``<prefix>_<random>``; yields its plain ``postgresql://`` URL
    and drops it on exit. Skips loudly (fails under CI) when Postgres is not there. Synchronous:
    it runs its statements with ``asyncio.run``, so call it outside an event loop."""
    if not port_open("127.0.0.1", 5432):
        service_missing("PostgreSQL at 127.0.0.1:5432", "connection refused")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # pragma: no cover - depends on the machine
        service_missing("PostgreSQL", f"cannot create a test database: {exc}")
    try:
        yield f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def with_driver(url: str, driver: str) -> str:
    """``postgresql://…`` as SQLAlchemy spells it with ``driver`` (``asyncpg``, ``psycopg``)."""
    return url.replace("postgresql://", f"postgresql+{driver}://", 1)


async def truncate_postgres(settings: Settings) -> None:
    """Empties every table of a Postgres test database (the session shares one), then puts back
    the rows migrations seed (the default forum categories), as a fresh migrated database has
    them; a SQLite database is a file per test and is left as it is."""
    if settings.is_sqlite:
        return
    from sqlalchemy import text

    from hub.db import Database
    from hub.forum.categories import seed_default_categories
    from hub.models import metadata

    db = Database(settings)
    try:
        names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
        if names:
            async with db.engine.begin() as conn:
                await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        async with db.unit_of_work() as session:
            await seed_default_categories(session)
    finally:
        await db.dispose()
