"""Admin actions that live in other domains: categories and official prompts are audited,
the run-time cap on running jobs reaches the claim, and each process keeps the site settings
for ``HUB_SITE_CACHE_SECONDS``."""

from __future__ import annotations

import httpx

from hub import site
from hub.audit import service as audit
from hub.db import Database
from hub.generation.queue.claim import claim_jobs
from hub.settings import Settings
from tests.helpers import BOTH_DATABASES
from tests.hub.credits.helpers import bearer, make_user

API = "/api/v1/admin"


@BOTH_DATABASES
async def test_categories_and_official_prompts_are_audited(
    client: httpx.AsyncClient, db: Database
) -> None:
    headers = await bearer(db, await make_user(db, "boss", role="admin"))
    made = await client.post(
        f"{API}/categories", json={"slug": "harbours", "name": "Harbours"}, headers=headers
    )
    assert made.status_code == 201, made.text
    edited = await client.patch(
        f"{API}/categories/harbours", json={"name": "Ports"}, headers=headers
    )
    assert edited.status_code == 200, edited.text
    prompt = {"title": "Harbour", "body": "a quiet harbour", "visibility": "public"}
    prompt_id = (await client.post("/api/v1/prompts", json=prompt, headers=headers)).json()["id"]
    marked = await client.put(f"{API}/prompts/{prompt_id}/official", headers=headers)
    assert marked.status_code == 200, marked.text
    async with db.unit_of_work() as session:
        rows = await audit.entries(session)
    assert [(r.action, r.target_id, r.before, r.after) for r in rows] == [
        ("prompt.official", str(prompt_id), {"official": False}, {"official": True}),
        ("category.update", "harbours", {"name": "Harbours"}, {"name": "Ports"}),
        (
            "category.create",
            "harbours",
            None,
            {"slug": "harbours", "name": "Harbours", "description": "", "position": 0},
        ),
    ]


@BOTH_DATABASES
async def test_the_site_cap_on_running_jobs_reaches_the_claim(
    client: httpx.AsyncClient, db: Database
) -> None:
    headers = await bearer(db, await make_user(db, "boss", role="admin"))
    alice_headers = await bearer(db, await make_user(db, "alice"))
    model = (await client.get("/api/v1/models", headers=alice_headers)).json()["items"][0]["id"]
    await client.post(f"{API}/queue/pause", headers=headers)  # no worker takes them meanwhile
    for n in range(3):
        job = {"kind": "text2img", "model": model, "prompt": f"harbour {n}"}
        assert (
            await client.post("/api/v1/jobs", json=job, headers=alice_headers)
        ).status_code == 201
    capped = await client.patch(
        f"{API}/site", json={"max_concurrent_jobs_per_user": 1}, headers=headers
    )
    assert capped.status_code == 200, capped.text
    await client.post(f"{API}/queue/resume", headers=headers)
    async with db.unit_of_work() as session:
        claimed = await claim_jobs(session, worker_id="test", limit=3)
    assert len(claimed) == 1  # HUB_JOBS_PER_USER_RUNNING (3) would have allowed all three


@BOTH_DATABASES
async def test_site_settings_are_cached_per_process_for_the_configured_time(
    client: httpx.AsyncClient, db: Database, fast_settings: Settings
) -> None:
    other = Database(fast_settings.model_copy(update={"site_cache_seconds": 3600}))
    fresh = Database(fast_settings.model_copy(update={"site_cache_seconds": 0}))
    try:
        for database in (other, fresh):
            async with database.unit_of_work() as session:
                assert (await site.current(session)).signups_open is True
        async with db.unit_of_work() as session:
            await site.update(session, changes={"signups_open": False}, actor_id=None)
        async with db.unit_of_work() as session:
            assert (await site.current(session)).signups_open is False  # the writer at once
        async with other.unit_of_work() as session:
            assert (await site.current(session)).signups_open is True  # until its copy expires
        async with fresh.unit_of_work() as session:
            assert (await site.current(session)).signups_open is False
    finally:
        await other.dispose()
        await fresh.dispose()
