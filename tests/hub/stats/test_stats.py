"""The stats dashboard: the numbers of a day with signups, jobs and credits, on both databases;
admins only (API 403, page 403 or sign-in), days out of range 422; the page draws accessible SVG."""

from __future__ import annotations

import httpx
import pytest

from hub.db import Database
from hub.generation.runners import step_runner
from hub.generation.worker import Worker
from hub.stats.charts import line_chart, stacked_bars
from tests.helpers import BOTH_DATABASES, eventually
from tests.hub.credits.fixtures import db, fast_settings
from tests.hub.credits.helpers import bearer, make_user
from tests.hub.generation.helpers import load, submit

__all__ = ["db", "fast_settings"]


@BOTH_DATABASES
async def test_stats_count_todays_signups_jobs_and_credits(
    client: httpx.AsyncClient, db: Database
) -> None:
    admin = await make_user(db, "boss", role="admin")
    alice = await make_user(db, "alice")
    await make_user(db, "bob")
    (done,) = await submit(db, alice, model="offline-detail")
    worker = Worker(db, db.settings, step_runner(steps=2), concurrency=1)
    await worker.start()
    try:
        await eventually(lambda: _state(db, done.job_id, "succeeded"), 10)
    finally:
        await worker.stop()
    (waiting,) = await submit(db, alice, model="offline-detail")
    headers = await bearer(db, admin)
    response = await client.get("/api/v1/admin/stats?days=7", headers=headers)
    assert response.status_code == 200, response.text
    stats = response.json()
    assert len(stats["days"]) == 7
    assert stats["signups"][:-1] == [0] * 6
    assert stats["signups"][-1] == 3
    states = {state: series[-1] for state, series in stats["jobs_by_state"].items()}
    assert states == {"succeeded": 1, "queued": 1}
    (provider,) = stats["jobs_by_provider"]
    assert (provider["provider"], provider["total"]) == ("offline", 2)
    assert stats["credits_spent"][-1] == done.cost == 2
    assert stats["credits_granted"][-1] == 100  # alice's signup grant (her wallet opened)
    assert stats["active_users"][-1] == 1
    assert stats["median_job_seconds"][-1] is not None
    assert stats["median_job_seconds"][:-1] == [None] * 6
    assert stats["works_published"] == [0] * 7
    assert stats["threads_started"] == [0] * 7
    assert (await load(db, waiting.job_id)).state == "queued"


async def _state(db: Database, job_id: str, state: str) -> bool:
    return (await load(db, job_id)).state == state


@pytest.mark.parametrize("days", ["0", "366", "ten", "-1"])
async def test_days_out_of_range_is_422(client: httpx.AsyncClient, db: Database, days: str) -> None:
    admin = await make_user(db, "boss", role="admin")
    response = await client.get(f"/api/v1/admin/stats?days={days}", headers=await bearer(db, admin))
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"


@BOTH_DATABASES
async def test_non_admins_are_refused(client: httpx.AsyncClient, db: Database) -> None:
    for role in ("user", "moderator"):
        someone = await make_user(db, f"someone_{role}", role=role)
        headers = await bearer(db, someone)
        api = await client.get("/api/v1/admin/stats", headers=headers)
        assert api.status_code == 403
        assert api.json()["error"]["code"] == "forbidden"
        page = await client.get("/admin/stats", headers=headers)
        assert page.status_code == 403
        assert "<svg" not in page.text
    assert (await client.get("/api/v1/admin/stats")).status_code == 401
    anonymous = await client.get("/admin/stats")
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == "/login?next=/admin/stats"


async def test_page_draws_titled_svg_charts_with_tables(
    client: httpx.AsyncClient, db: Database
) -> None:
    admin = await make_user(db, "boss", role="admin")
    alice = await make_user(db, "alice")
    await submit(db, alice)
    page = await client.get("/admin/stats?days=14", headers=await bearer(db, admin))
    assert page.status_code == 200, page.text
    html = page.text
    for chart_id in ("signups", "rooms", "jobs", "providers", "median", "credits", "content"):
        assert f'aria-labelledby="chart-{chart_id}-title chart-{chart_id}-desc"' in html
        assert f'<title id="chart-{chart_id}-title">' in html
        assert f'<desc id="chart-{chart_id}-desc">' in html
    assert html.count('<svg viewBox="0 0 640') == 7
    assert html.count("<table>") == 7
    assert '<th scope="row">offline</th><td>1</td>' in html
    assert (
        await client.get("/admin/stats?days=900", headers=await bearer(db, admin))
    ).status_code == 422


def test_line_chart_scales_to_a_round_maximum_and_breaks_on_gaps() -> None:
    chart = line_chart(
        "t", "T", "d", ["2026-12-01", "2026-12-02", "2026-12-03"], [("a", [0, 7, None])]
    )
    assert [tick.label for tick in chart.y_ticks] == ["0", "2.5", "5", "7.5", "10"]
    (line,) = chart.lines
    assert line.points == "48.0,176.0 339.0,59.8"  # two points: the gap leaves the third out
    assert chart.table_rows[2] == ["2026-12-03", "-"]


def test_stacked_bars_stack_each_day() -> None:
    chart = stacked_bars("t", "T", "d", ["d1", "d2"], [("ok", [2, 0]), ("failed", [2, 1])])
    assert [bar.label for bar in chart.bars] == ["d1 · ok: 2", "d1 · failed: 2", "d2 · failed: 1"]
    first, second, _ = chart.bars
    assert first.y == pytest.approx(second.y + second.height)  # "failed" sits on "ok"
