"""The stats dashboard: per-day series read through each domain's ``stats`` functions (never
their tables), for admins only."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from hub.accounts import stats as accounts_stats
from hub.accounts.roles import HasRole, UserRole, require_role
from hub.collab import stats as collab_stats
from hub.credits import stats as credits_stats
from hub.forum import stats as forum_stats
from hub.generation import stats as generation_stats
from hub.stats.schemas import ProviderJobs, StatsOut
from hub.timeseries import DayCounts, day_labels, period_start
from hub.works import stats as works_stats


def _series(days: list[str], counts: Mapping[str, int]) -> list[int]:
    return [counts.get(day, 0) for day in days]


def _union(days: list[str], *groups: Mapping[str, set[int]]) -> list[int]:
    return [len(set().union(*(group.get(day, set()) for group in groups))) for day in days]


def _providers(
    by_model: Mapping[str, Mapping[str, int]], provider_of: Mapping[str, str]
) -> list[ProviderJobs]:
    totals: dict[str, dict[str, int]] = {}
    for model, states in by_model.items():
        # Models no longer configured keep their own name: their jobs still count.
        provider = totals.setdefault(provider_of.get(model, model), {})
        for state, count in states.items():
            provider[state] = provider.get(state, 0) + count
    return [
        ProviderJobs(provider=name, total=sum(states.values()), by_state=states)
        for name, states in sorted(totals.items(), key=lambda item: -sum(item[1].values()))
    ]


async def get_dashboard(
    session: AsyncSession,
    actor: HasRole,
    *,
    days: int,
    now: datetime,
    provider_of: Mapping[str, str],
    live_rooms: int,
) -> StatsOut:
    """The last ``days`` days (today included). ``provider_of`` maps model ids to providers."""
    require_role(actor, UserRole.ADMIN, to="see the site statistics")
    since = period_start(days, now)
    labels = day_labels(days, now)
    jobs = await generation_stats.jobs_by_day(session, since=since)
    medians = await generation_stats.median_seconds_by_day(session, since=since)
    granted: DayCounts = await credits_stats.granted_by_day(session, since=since)
    return StatsOut(
        days=labels,
        signups=_series(labels, await accounts_stats.signups_by_day(session, since=since)),
        active_users=_union(
            labels,
            await generation_stats.active_users_by_day(session, since=since),
            await accounts_stats.seen_users_by_day(session, since=since),
        ),
        active_rooms=_series(labels, await collab_stats.active_rooms_by_day(session, since=since)),
        live_rooms=live_rooms,
        jobs_by_state={state: _series(labels, counts) for state, counts in sorted(jobs.items())},
        jobs_by_provider=_providers(
            await generation_stats.jobs_by_model(session, since=since), provider_of
        ),
        median_job_seconds=[medians.get(day) for day in labels],
        credits_granted=_series(labels, granted),
        credits_spent=_series(labels, await credits_stats.spent_by_day(session, since=since)),
        works_published=_series(labels, await works_stats.published_by_day(session, since=since)),
        threads_started=_series(labels, await forum_stats.threads_by_day(session, since=since)),
    )
