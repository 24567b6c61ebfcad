"""Rooms' numbers for the stats dashboard: rooms with activity per day."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.collab.models import RoomEvent
from hub.timeseries import DayCounts, count_by_day, day_of

_EVENTS = RoomEvent.metadata.tables[RoomEvent.__tablename__]


async def active_rooms_by_day(session: AsyncSession, *, since: datetime) -> DayCounts:
    """Rooms whose event stream had an event (join, job, chat...) that day (ix_room_events_created;
    stored events are kept for the rooms' retention period only)."""
    day = day_of(session, _EVENTS.c.created_at)
    stmt = (
        select(day, func.count(func.distinct(_EVENTS.c.room)))
        .where(_EVENTS.c.created_at >= since)
        .group_by(day)
    )
    return await count_by_day(session, stmt)
