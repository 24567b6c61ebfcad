"""Per-day series for the stats dashboard: the day of a timestamp column in SQL, on SQLite and
Postgres alike, and the list of days of a period. Every domain's ``stats.py`` counts its own rows
per day with :func:`day_of`; :mod:`hub.stats` puts the series side by side."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

DayCounts = dict[str, int]


def day_of(session: AsyncSession, column: Any) -> ColumnElement[str]:
    """``YYYY-MM-DD`` (UTC) of a :class:`~hub.db.UTCDateTime` column."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    # SQLite stores UTC as "YYYY-MM-DD HH:MM:SS.ffffff": its first ten characters are the day.
    return func.substr(column, 1, 10)


def period_start(days: int, now: datetime) -> datetime:
    """Midnight UTC at the start of the first of the last ``days`` days (today included)."""
    today = now.astimezone(UTC).date()
    first = today - timedelta(days=days - 1)
    return datetime(first.year, first.month, first.day, tzinfo=UTC)


def day_labels(days: int, now: datetime) -> list[str]:
    first = period_start(days, now).date()
    return [(first + timedelta(days=offset)).isoformat() for offset in range(days)]


async def count_by_day(session: AsyncSession, stmt: Any) -> DayCounts:
    """Run ``SELECT day, count ... GROUP BY day`` and return ``{day: count}``."""
    return {str(row[0]): int(row[1]) for row in (await session.execute(stmt)).all()}


def parse_day(value: str) -> date:
    return date.fromisoformat(value[:10])
