"""The topology's own Postgres database on the machine's server, created when missing."""

from __future__ import annotations

import asyncio
import re
from urllib.parse import urlsplit, urlunsplit

_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def database_url(server_url: str, name: str) -> str:
    """``server_url`` (any database on the server, e.g. ``postgresql://postgres@host/postgres``)
    with its database replaced by ``name``."""
    parts = urlsplit(server_url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))


async def _ensure(server_url: str, name: str) -> bool:
    import asyncpg

    conn = await asyncpg.connect(database_url(server_url, "postgres"))
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists:
            return False
        # Identifiers cannot be bound parameters; the name was checked against _NAME.
        await conn.execute(f'CREATE DATABASE "{name}"')
        return True
    finally:
        await conn.close()


def ensure_database(server_url: str, name: str) -> bool:
    """Creates database ``name`` unless it exists; True if it was created."""
    if not _NAME.match(name):
        raise ValueError(f"not a plain database name: {name!r}")
    return asyncio.run(_ensure(server_url, name))
