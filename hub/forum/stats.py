"""The forum's numbers for the stats dashboard: threads started per day."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.forum.models import Thread
from hub.timeseries import DayCounts, count_by_day, day_of

_THREADS = Thread.metadata.tables[Thread.__tablename__]


async def threads_by_day(session: AsyncSession, *, since: datetime) -> DayCounts:
    day = day_of(session, _THREADS.c.created_at)
    stmt = (
        select(day, func.count())
        .where(_THREADS.c.created_at >= since, _THREADS.c.deleted_at.is_(None))
        .group_by(day)
    )
    return await count_by_day(session, stmt)
