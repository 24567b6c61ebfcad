"""Every active account's public profile URL, for the sitemap (the works domain serves it): in
chunks of consecutive user ids, so a chunk is one index range scan however many people there
are. Profiles themselves (``/u/{username}``) are the feeds' pages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from hub.accounts.models import User


def profile_path(username: str) -> str:
    return f"/u/{username}"


def _chunk(size: int) -> Any:
    return (col(User.user_id) - 1) // size


async def profile_chunks(session: AsyncSession, size: int) -> list[tuple[int, datetime]]:
    """``(chunk, latest change)`` of every chunk of ``size`` user ids holding an active user;
    chunk ``k`` covers ids ``k*size+1 .. (k+1)*size``."""
    chunk = _chunk(size)
    rows = await session.execute(
        select(chunk, func.max(col(User.updated_at)))
        .where(col(User.is_active).is_(True))
        .group_by(chunk)
        .order_by(chunk)
    )
    return [(int(row[0]), row[1]) for row in rows]


async def profile_locations(
    session: AsyncSession, chunk: int, size: int
) -> list[tuple[str, datetime]]:
    """``(path, latest change)`` of the active users of ``chunk``, by id."""
    rows = await session.execute(
        select(col(User.username), col(User.updated_at))
        .where(
            col(User.is_active).is_(True),
            col(User.user_id) > chunk * size,
            col(User.user_id) <= (chunk + 1) * size,
        )
        .order_by(col(User.user_id))
    )
    return [(profile_path(name), latest) for name, latest in rows]
