"""Works' numbers for the stats dashboard: works published per day."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.timeseries import DayCounts, count_by_day, day_of
from hub.works.models import Work

_WORKS = Work.metadata.tables[Work.__tablename__]


async def published_by_day(session: AsyncSession, *, since: datetime) -> DayCounts:
    day = day_of(session, _WORKS.c.published_at)
    stmt = (
        select(day, func.count())
        .where(_WORKS.c.published_at >= since, _WORKS.c.deleted_at.is_(None))
        .group_by(day)
    )
    return await count_by_day(session, stmt)
