"""``/admin/stats``: the dashboard page (admins only), every chart drawn as SVG on the server."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from hub.accounts.deps import current_actor
from hub.api import validate
from hub.context import get_ctx
from hub.db import utcnow
from hub.pages import render, to_login
from hub.stats import service
from hub.stats.charts import Chart, category_bars, line_chart, stacked_bars
from hub.stats.routes import live_rooms, provider_of
from hub.stats.schemas import StatsOut, StatsQuery

# Job states in the order their bars stack, bottom up.
_STATE_ORDER = ("succeeded", "running", "queued", "failed", "canceled")


def dashboard_charts(stats: StatsOut) -> list[Chart]:
    days = stats.days
    span = f"over the last {len(days)} days"
    states = sorted(stats.jobs_by_state, key=lambda s: (*_STATE_ORDER, s).index(s))
    jobs = [(state, stats.jobs_by_state[state]) for state in states]
    providers = [(p.provider, p.total) for p in stats.jobs_by_provider]
    people = [("Signups", stats.signups), ("Active users", stats.active_users)]
    money = [("Granted", stats.credits_granted), ("Spent", stats.credits_spent)]
    content = [("Works", stats.works_published), ("Threads", stats.threads_started)]
    median = f"Median seconds from start to finish of the jobs that succeeded, per day {span}."
    return [
        line_chart("signups", "Signups and active users", f"Per day {span}.", days, people),
        line_chart(
            "rooms", "Active rooms", f"Rooms with activity per day {span}.", days,
            [("Rooms", stats.active_rooms)],
        ),
        stacked_bars("jobs", "Jobs by state", f"Jobs created per day {span}.", days, jobs),
        category_bars("providers", "Jobs by provider", f"Jobs created {span}.", providers),
        line_chart(
            "median", "Median job time (s)", median, days,
            [("Median seconds", stats.median_job_seconds)],
        ),
        line_chart("credits", "Credits granted and spent", f"Per day {span}.", days, money),
        line_chart("content", "Works and threads", f"Per day {span}.", days, content),
    ]  # fmt: skip


async def stats_page(request: Request) -> Response:
    actor = await current_actor(request)
    if actor is None:
        return to_login(request)
    ctx = get_ctx(request)
    query = validate(StatsQuery, dict(request.query_params))
    async with ctx.db.unit_of_work() as session:
        stats = await service.get_dashboard(
            session,
            actor,
            days=query.days,
            now=utcnow(),
            provider_of=provider_of(ctx),
            live_rooms=live_rooms(ctx),
        )
    context = {"actor": actor, "stats": stats, "charts": dashboard_charts(stats)}
    return render(request, "stats/dashboard.html", context)


routes: list[BaseRoute] = [
    Route("/admin/stats", stats_page, methods=["GET"], name="admin_stats_page"),
]
