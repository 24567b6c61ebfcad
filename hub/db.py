"""Async database engine and the unit of work.

One request or job is one transaction: services ``flush()`` and never commit; the boundary
(:func:`unit_of_work`) commits, then runs the after-commit effects queued in :mod:`hub.outbox`
(bus publishes, job wake-ups), which are dropped on rollback. SQLite runs in WAL mode with a busy
timeout; Postgres uses asyncpg with ``pool_pre_ping``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator

from hub.outbox import Outbox
from hub.settings import Settings

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` that always hands back UTC-aware datetimes.

    SQLite has no time zone type and returns naive values; comparing those with ``utcnow()``
    raises ``TypeError``. Stores UTC, reads UTC on both databases (same DDL as
    ``sa.DateTime(timezone=True)`` in migrations).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("UTCDateTime needs an aware datetime (use hub.db.utcnow()).")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def create_engine(settings: Settings, *, url: str | None = None) -> AsyncEngine:
    url = url or settings.effective_database_url
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[1] if ":///" in url else ""
        if path and path != ":memory:":
            from pathlib import Path

            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            url,
            echo=settings.db_echo,
            # Writers queue on the driver's lock timeout (and busy_timeout) instead of failing.
            connect_args={"timeout": 30},
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    kwargs: dict[str, Any] = {"echo": settings.db_echo, "pool_pre_ping": True}
    if settings.db_pool_size > 0:
        kwargs.update(pool_size=settings.db_pool_size, max_overflow=settings.db_pool_size)
    else:
        kwargs["poolclass"] = NullPool
    return create_async_engine(url, **kwargs)


_SETTINGS_KEY = "settings"


def settings_of(session: AsyncSession) -> Settings:
    """The settings of the unit of work ``session`` belongs to. The one way services reach
    settings: they take the session, not a ``settings`` parameter (docs/settings.md)."""
    settings = session.info.get(_SETTINGS_KEY)
    if not isinstance(settings, Settings):
        raise RuntimeError("services need a session from Database.unit_of_work()")
    return settings


class Database:
    """Owns the engine and hands out units of work."""

    def __init__(self, settings: Settings, *, url: str | None = None) -> None:
        self.settings = settings
        self.engine = create_engine(settings, url=url)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextlib.asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[AsyncSession]:
        """One transaction: commit on success, roll back on error; then run after-commit effects."""
        session = self.sessionmaker()
        outbox = Outbox()
        session.info["outbox"] = outbox
        # Services read policy (limits, TTLs, caps) through settings_of: they only get a session.
        session.info[_SETTINGS_KEY] = self.settings
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            outbox.discard()
            raise
        finally:
            await session.close()
        await outbox.run()

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.exec_driver_sql("SELECT 1")
            return True
        except Exception:
            log.warning("database ping failed", exc_info=True)
            return False

    async def dispose(self) -> None:
        await self.engine.dispose()
