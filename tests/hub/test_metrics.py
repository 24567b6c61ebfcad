"""``/metrics``: HTTP latency by route template, room sockets and rooms live, the bus, queue depth
read from the database (cached), job durations by provider and credit movements."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette

from hub.db import Database
from hub.generation.component import provider_lookup
from hub.generation.providers.registry import ProviderRegistry
from hub.generation.runners import step_runner
from hub.generation.worker import Worker
from tests.helpers import BOTH_DATABASES, eventually
from tests.hub.collab.conftest import create_room, create_test_user
from tests.hub.collab.helpers import hub_ctx, joined, yjs_url
from tests.hub.credits.fixtures import db, fast_settings
from tests.hub.credits.helpers import make_user
from tests.hub.generation.helpers import load, submit
from tests.live import LiveServer

__all__ = ["db", "fast_settings"]

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_http_latency_is_labelled_by_route_template(client: httpx.AsyncClient) -> None:
    before = await scrape(client)
    labels = {"method": "GET", "route": "/api/v1/jobs/{job_id}", "status": "401"}
    for job_id in ("a1", "b2", "c3"):
        assert (await client.get(f"/api/v1/jobs/{job_id}")).status_code == 401
    assert (await client.get("/no/such/page")).status_code == 404
    after = await scrape(client)
    count = "hub_http_request_duration_seconds_count"
    assert value(after, count, **labels) - value(before, count, **labels) == 3
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    assert value(after, count, **unmatched) - value(before, count, **unmatched) == 1
    routes = {dict(key[1]).get("route") for key in after if key[0] == count}
    assert not any(route and "a1" in route for route in routes)  # never a raw path


@BOTH_DATABASES
async def test_queue_depth_is_read_from_the_database_and_cached(
    client: httpx.AsyncClient, app: Starlette, db: Database
) -> None:
    now = [1000.0]
    app.state.metrics.clock = lambda: now[0]
    first = await scrape(client)
    assert value(first, "hub_jobs_queue_depth", state="queued") == 0
    alice = await make_user(db, "alice")
    await submit(db, alice, times=2)
    cached = await scrape(client)
    assert value(cached, "hub_jobs_queue_depth", state="queued") == 0  # within the TTL
    now[0] += app.state.metrics.QUEUE_TTL
    fresh = await scrape(client)
    assert value(fresh, "hub_jobs_queue_depth", state="queued") == 2
    assert value(fresh, "hub_jobs_queue_depth", state="running") == 0
    reserved = "hub_credits_total"
    assert (
        value(fresh, reserved, operation="reserve") - value(first, reserved, operation="reserve")
        == 2
    )
    assert (
        value(fresh, reserved, operation="grant") - value(first, reserved, operation="grant") == 100
    )


async def test_job_durations_by_provider_and_credits_charged(
    client: httpx.AsyncClient, db: Database
) -> None:
    alice = await make_user(db, "alice")
    before = await scrape(client)
    (job,) = await submit(db, alice, model="offline-detail")
    registry = ProviderRegistry.from_settings(db.settings)
    worker = Worker(
        db, db.settings, step_runner(steps=1), concurrency=1, provider_of=provider_lookup(registry)
    )
    await worker.start()
    try:

        async def succeeded() -> bool:
            return (await load(db, job.job_id)).state == "succeeded"

        await eventually(succeeded, 10)
    finally:
        await worker.stop()
        await registry.aclose()
    after = await scrape(client)
    count = "hub_job_duration_seconds_count"
    labels = {"provider": "offline", "outcome": "succeeded"}
    assert value(after, count, **labels) - value(before, count, **labels) == 1
    charged = value(after, "hub_credits_total", operation="charge")
    assert charged - value(before, "hub_credits_total", operation="charge") == 2


async def test_room_sockets_rooms_live_and_bus_counters(live: LiveServer) -> None:
    ctx = hub_ctx(live)
    owner = await create_test_user(ctx, "carol")
    async with httpx.AsyncClient(base_url=live.http_url, timeout=10) as client:
        room = await create_room(client, owner)
        before = await scrape(client)
        peer = await joined(yjs_url(live, room["slug"], owner), "owner")
        try:
            peer.insert(0, "hello")
            during = await scrape(client)
            assert value(during, "hub_ws_connections", kind="yjs") == 1
            assert value(during, "hub_rooms_live") == 1
            opened = "hub_ws_connections_opened_total"
            assert value(during, opened) - value(before, opened) == 1

            async def published() -> bool:
                now = await scrape(client)
                return value(now, "hub_bus_published_total") > value(
                    before, "hub_bus_published_total"
                )

            await eventually(published, 5)
        finally:
            await peer.close()

        async def closed() -> bool:
            return value(await scrape(client), "hub_ws_connections", kind="yjs") == 0

        await eventually(closed, 5)
        assert "hub_bus_receive_lag_seconds_count" in {key[0] for key in before}
