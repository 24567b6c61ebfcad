"""Accounts' numbers for the stats dashboard (hub/stats): signups and seen users per day."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.accounts.models import BrowserSession, User
from hub.timeseries import DayCounts, count_by_day, day_of

_USERS = User.metadata.tables[User.__tablename__]
_SESSIONS = BrowserSession.metadata.tables[BrowserSession.__tablename__]


async def signups_by_day(session: AsyncSession, *, since: datetime) -> DayCounts:
    day = day_of(session, _USERS.c.created_at)
    stmt = select(day, func.count()).where(_USERS.c.created_at >= since).group_by(day)
    return await count_by_day(session, stmt)


async def seen_users_by_day(session: AsyncSession, *, since: datetime) -> dict[str, set[int]]:
    """Users by the day their browser sessions were last used (a session records its latest
    activity only, so this undercounts earlier days; job activity fills those in)."""
    day = day_of(session, _SESSIONS.c.last_seen_at)
    stmt = (
        select(day, _SESSIONS.c.user_id)
        .where(_SESSIONS.c.last_seen_at >= since)
        .group_by(day, _SESSIONS.c.user_id)
    )
    seen: dict[str, set[int]] = defaultdict(set)
    for row in (await session.execute(stmt)).all():
        seen[str(row[0])].add(int(row[1]))
    return dict(seen)
