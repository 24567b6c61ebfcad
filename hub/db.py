"""Async database engine and the unit of work.

One request or job is one transaction: services ``flush()`` and never commit; the boundary
(:func:`unit_of_work`) commits, then runs the after-commit effects queued in :mod:`hub.outbox`
(bus publishes, job wake-ups), which are dropped on rollback. SQLite runs in WAL mode with a busy
timeout; Postgres uses asyncpg with ``pool_pre_ping``. No task holds a pooled connection while it
waits for another (a full pool would deadlock): code that runs inside a unit of work reads
through its session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, DateTime, event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field

from hub.broadcast import Broadcast
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


def now_field() -> Any:
    """A model field that defaults to :func:`utcnow`, in a non-null :class:`UTCDateTime` column
    (``created_at``, ``updated_at``, ...); each call makes a column of its own."""
    return Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


SQLITE_LOCK_TIMEOUT = 30  # seconds a SQLite writer waits for the write lock


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # As long as the driver's lock timeout below (this pragma replaces it): under a burst of
    # writes (a hundred room jobs at once) a writer queues for the lock rather than failing.
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_LOCK_TIMEOUT * 1000}")
    # WAL is a property of the file, kept once set. Setting it again on every new connection
    # is not free: while others write, the switch can answer "database is locked" at once
    # (no busy wait), so a burst that opens connections failed now and then. Ask first.
    cursor.execute("PRAGMA journal_mode")
    row = cursor.fetchone()
    if row is None or str(row[0]).lower() != "wal":
        cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _pool_options(settings: Settings) -> dict[str, Any]:
    """The same pool on both databases: ``db_pool_size`` kept, ``db_max_overflow`` more under
    load, ``db_pool_timeout`` to wait for one (then :class:`sqlalchemy.exc.TimeoutError`, which
    the API answers with 503). No code path holds a connection while it waits for another, so
    a full pool only queues requests (see docs/performance.md)."""
    if settings.db_pool_size <= 0:
        return {"poolclass": NullPool}
    return {
        "pool_size": settings.db_pool_size,
        "max_overflow": settings.db_max_overflow,
        "pool_timeout": settings.db_pool_timeout,
    }


def create_engine(settings: Settings, *, url: str | None = None) -> AsyncEngine:
    url = url or settings.effective_database_url
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[1] if ":///" in url else ""
        memory = not path or path == ":memory:" or "mode=memory" in path
        if not memory:
            from pathlib import Path

            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            url,
            echo=settings.db_echo,
            # Writers queue on the driver's lock timeout (and busy_timeout) instead of failing.
            connect_args={"timeout": SQLITE_LOCK_TIMEOUT},
            # An in-memory database lives in its one connection (SQLAlchemy's StaticPool).
            **({} if memory else _pool_options(settings)),
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(
        url,
        echo=settings.db_echo,
        pool_pre_ping=True,
        connect_args={
            # Bounds opening a connection (asyncpg waits 60 s by default) on a link that hangs.
            "timeout": settings.db_pool_timeout,
            # Bounds every statement on an open one, the pre-ping included: a link that went
            # silent under a pooled connection would otherwise hang its requests for good.
            "command_timeout": settings.db_command_timeout,
        },
        **_pool_options(settings),
    )


_SETTINGS_KEY = "settings"
_BROADCAST_KEY = "broadcast"


def settings_of(session: AsyncSession) -> Settings:
    """The settings of the unit of work ``session`` belongs to. The one way services reach
    settings: they take the session, not a ``settings`` parameter (docs/settings.md)."""
    settings = session.info.get(_SETTINGS_KEY)
    if not isinstance(settings, Settings):
        raise RuntimeError("services need a session from Database.unit_of_work()")
    return settings


def broadcast_of(session: AsyncSession) -> Broadcast | None:
    """The process's :class:`~hub.broadcast.Broadcast` for effects after the commit (a notice on
    a user's stream); None where the database has none (scripts, tests without a bus)."""
    broadcast = session.info.get(_BROADCAST_KEY)
    return broadcast if isinstance(broadcast, Broadcast) else None


class Database:
    """Owns the engine and hands out units of work."""

    def __init__(self, settings: Settings, *, url: str | None = None) -> None:
        self.settings = settings
        # Set by the composition root once the bus runs (hub.compose); read by broadcast_of.
        self.broadcast: Broadcast | None = None
        # The process's copy of the site settings (hub.site), per database, not per module.
        self.site_cache: dict[str, Any] = {}
        self.engine = create_engine(settings, url=url)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        self._abandoned: set[asyncio.Future[bool]] = set()  # pings past their deadline

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
        session.info[_BROADCAST_KEY] = self.broadcast
        session.info["site_cache"] = self.site_cache
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
        """``SELECT 1`` within ``db_ready_timeout``: a link that hangs is reported down at the
        deadline. The abandoned check is canceled and cleans up in the background (closing a
        connection on a hung link takes its own time, which readiness must not wait for)."""
        check = asyncio.ensure_future(self._select_one())
        done, _ = await asyncio.wait({check}, timeout=self.settings.db_ready_timeout)
        if check in done:
            return check.result()
        log.warning("database ping timed out", extra={"timeout": self.settings.db_ready_timeout})
        check.cancel()
        self._abandoned.add(check)
        check.add_done_callback(self._abandoned.discard)
        return False

    async def _select_one(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.exec_driver_sql("SELECT 1")
            return True
        except asyncio.CancelledError:
            return False
        except Exception:
            log.warning("database ping failed", exc_info=True)
            return False

    async def dispose(self) -> None:
        await self.engine.dispose()
