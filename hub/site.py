"""Site settings that admins may change while the hub runs (``site_settings``, one row).

Unlike :mod:`hub.settings` (the environment, fixed for a process's life), these live in the
database so that every process sees one value: the announcement banner, whether sign-ups are
open, pre-review of new accounts, the most jobs a user may run at once. :func:`current` reads them
through the caller's session and keeps them per process for ``HUB_SITE_CACHE_SECONDS`` (pages and
the job claim read them on every request); a change made here is seen at once by this process and
by the others when their copy expires (docs/admin.md, ADR 0023).

The cache belongs to the :class:`~hub.db.Database` (``session.info``), not to the module, so two
apps in one process (tests) never share it. Who may change them, and the audit entry, are the admin
domain's business: this module is core and knows nothing of roles.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, fields, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Column, Integer, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel

from hub.db import now_field, settings_of, utcnow
from hub.outbox import after_commit

SITE_ID = 1
ANNOUNCEMENT_MAX = 500
CACHE_KEY = "site_cache"


class SiteSettingsRow(SQLModel, table=True):
    __tablename__ = "site_settings"

    site_id: int = Field(
        default=SITE_ID, sa_column=Column(Integer, primary_key=True, autoincrement=False)
    )
    announcement: str = Field(
        default="", sa_column=Column(String(ANNOUNCEMENT_MAX), nullable=False)
    )
    signups_open: bool = Field(default=True, sa_column=Column(Boolean, nullable=False))
    pre_review_new_accounts: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    # None: HUB_JOBS_PER_USER_RUNNING applies.
    max_concurrent_jobs_per_user: int | None = Field(
        default=None, sa_column=Column(Integer, nullable=True)
    )
    updated_at: datetime = now_field()
    updated_by: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))


@dataclass(frozen=True)
class SiteSettings:
    """What :func:`current` returns (the defaults are a fresh hub's)."""

    announcement: str = ""
    signups_open: bool = True
    pre_review_new_accounts: bool = False
    max_concurrent_jobs_per_user: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


FIELDS = tuple(f.name for f in fields(SiteSettings))


def _cache(session: AsyncSession) -> dict[str, Any]:
    """The process's copy (``value``, ``read_at`` in monotonic seconds), kept by the session's
    :class:`~hub.db.Database`; a session made elsewhere gets a throwaway one."""
    cache = session.info.get(CACHE_KEY)
    return cache if isinstance(cache, dict) else {}


async def _read(session: AsyncSession) -> SiteSettings:
    row = await session.scalar(select(SiteSettingsRow).where(SiteSettingsRow.site_id == SITE_ID))  # type: ignore[arg-type]
    if row is None:
        return SiteSettings()
    return SiteSettings(**{name: getattr(row, name) for name in FIELDS})


async def current(session: AsyncSession) -> SiteSettings:
    """The site settings, at most ``HUB_SITE_CACHE_SECONDS`` old."""
    cache = _cache(session)
    ttl = settings_of(session).site_cache_seconds
    now = time.monotonic()
    cached = cache.get("value")
    if isinstance(cached, SiteSettings) and now - cache.get("read_at", 0.0) < ttl:
        return cached
    value = await _read(session)
    cache["value"], cache["read_at"] = value, now
    return value


async def update(
    session: AsyncSession, *, changes: dict[str, Any], actor_id: int | None
) -> tuple[SiteSettings, SiteSettings]:
    """Apply ``changes`` (names of :class:`SiteSettings`); returns (before, after) read in this
    transaction. The caller checks permissions and records the audit entry."""
    unknown = set(changes) - set(FIELDS)
    if unknown:
        raise ValueError(f"unknown site settings: {sorted(unknown)}")
    row = await session.scalar(
        select(SiteSettingsRow).where(SiteSettingsRow.site_id == SITE_ID).with_for_update()  # type: ignore[arg-type]
    )
    if row is None:
        row = SiteSettingsRow(site_id=SITE_ID)
        session.add(row)
    before = SiteSettings(**{name: getattr(row, name) for name in FIELDS})
    after = replace(before, **changes)
    for name, value in changes.items():
        setattr(row, name, value)
    row.updated_at = utcnow()
    row.updated_by = actor_id
    await session.flush()
    cache = _cache(session)

    async def forget() -> None:
        # This process sees the change at once, the others when their copy expires. After the
        # commit: a request reading meanwhile would otherwise cache the old value again.
        cache.clear()

    after_commit(session, forget)
    return before, after
