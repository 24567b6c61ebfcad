"""The forum's part of the sitemap (``/sitemap.xml`` is the works domain's): every live thread's
URL and when it last changed, in chunks of consecutive ids, so a chunk is one index range scan
however many threads there are."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from hub.forum.models import Thread
from hub.forum.urls import thread_url


def _chunk(size: int) -> Any:
    return (col(Thread.thread_id) - 1) // size


async def thread_chunks(session: AsyncSession, size: int) -> list[tuple[int, datetime]]:
    """``(chunk, latest change)`` of every chunk of ``size`` thread ids holding a live thread;
    chunk ``k`` covers ids ``k*size+1 .. (k+1)*size``."""
    chunk = _chunk(size)
    rows = await session.execute(
        select(chunk, func.max(col(Thread.last_activity_at)))
        .where(col(Thread.deleted_at).is_(None), col(Thread.hidden_at).is_(None))
        .group_by(chunk)
        .order_by(chunk)
    )
    return [(int(row[0]), row[1]) for row in rows]


async def thread_locations(
    session: AsyncSession, chunk: int, size: int
) -> list[tuple[str, datetime]]:
    """``(path, latest change)`` of the live threads of ``chunk``, by id."""
    rows = await session.execute(
        select(col(Thread.thread_id), col(Thread.slug), col(Thread.last_activity_at))
        .where(
            col(Thread.deleted_at).is_(None),
            col(Thread.hidden_at).is_(None),
            col(Thread.thread_id) > chunk * size,
            col(Thread.thread_id) <= (chunk + 1) * size,
        )
        .order_by(col(Thread.thread_id))
    )
    return [(thread_url(cast(int, row[0]), row[1]), row[2]) for row in rows]
