"""Credits' numbers for the stats dashboard: credits granted and spent per day."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.credits.models import LedgerEntry, LedgerKind
from hub.timeseries import DayCounts, count_by_day, day_of

_LEDGER = LedgerEntry.metadata.tables[LedgerEntry.__tablename__]
# Credits that enter wallets: grants (signup, membership), purchases and positive adjustments.
_GRANTED = (LedgerKind.grant.value, LedgerKind.purchase.value, LedgerKind.adjust.value)


async def granted_by_day(session: AsyncSession, *, since: datetime) -> DayCounts:
    day = day_of(session, _LEDGER.c.created_at)
    stmt = (
        select(day, func.sum(_LEDGER.c.amount))
        .where(
            _LEDGER.c.created_at >= since,
            _LEDGER.c.kind.in_(_GRANTED),
            _LEDGER.c.amount > 0,
        )
        .group_by(day)
    )
    return await count_by_day(session, stmt)


async def spent_by_day(session: AsyncSession, *, since: datetime) -> DayCounts:
    """Credits charged for jobs (a charge row's amount is negative)."""
    day = day_of(session, _LEDGER.c.created_at)
    stmt = (
        select(day, -func.sum(_LEDGER.c.amount))
        .where(_LEDGER.c.created_at >= since, _LEDGER.c.kind == LedgerKind.charge.value)
        .group_by(day)
    )
    return await count_by_day(session, stmt)
