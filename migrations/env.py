"""Alembic environment (async). One history valid on SQLite and Postgres.

SQLite cannot ALTER most things in place, so migrations use ``op.batch_alter_table`` for alters
(``render_as_batch`` for autogenerate) and that works unchanged on Postgres.
"""

from __future__ import annotations

import asyncio
import logging.config

from alembic import context
from sqlalchemy import pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import async_engine_from_config
from sqlmodel import SQLModel

import hub.models  # noqa: F401  (registers every table on the metadata)
from hub.search.models import is_engine_table

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    logging.config.fileConfig(config.config_file_name)

target_metadata = SQLModel.metadata


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Autogenerate ignores SQLite's FTS5 search table and its shadow tables: migration 0008
    makes them by hand, and they are no model (hub/search/models.py)."""
    return not (type_ == "table" and is_engine_table(name))


def _normalise(url: str) -> str:
    if url.startswith("postgresql://"):
        return "postgresql+asyncpg://" + url[len("postgresql://") :]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    return url


def run_migrations_offline() -> None:
    context.configure(
        url=_normalise(config.get_main_option("sqlalchemy.url") or ""),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


# pg_advisory_xact_lock key of "the hub is migrating" (any constant 64-bit number would do).
MIGRATION_LOCK_KEY = 0x6875626D69677261  # b"hubmigra"


def do_run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
        include_name=include_name,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Processes that start at once on an empty database all migrate: the first takes
            # the lock, the others wait for its commit, then read its alembic_version and find
            # nothing left to do (instead of a duplicate CREATE TABLE alembic_version). The
            # migrations run in this one transaction (transactional DDL), which holds the lock.
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
        context.run_migrations()


async def run_async_migrations() -> None:
    section = config.get_section(config.config_ini_section, {})
    section["sqlalchemy.url"] = _normalise(section.get("sqlalchemy.url", ""))
    connectable = async_engine_from_config(section, prefix="sqlalchemy.", poolclass=pool.NullPool)
    async with connectable.connect() as connection:
        await connection.run_sync(do_run_migrations)
    await connectable.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        do_run_migrations(connection)
    else:
        asyncio.run(run_async_migrations())


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
