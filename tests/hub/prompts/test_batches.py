"""Batches from the library: several templates and fillings, each run a number of times, as
one named batch; its progress and totals, the job list filtered by batch, and cancel of the
whole batch."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import update

from hub.db import Database
from hub.generation.models import Job
from tests.helpers import BOTH_DATABASES, eventually
from tests.hub.prompts.helpers import create_prompt, person
from tests.live import LiveServer

FOX = {
    "title": "Fox",
    "body": "a {animal=fox} in {season}",
    "params": {"steps": 4, "size": "256x256"},
}


def batch_body(first: int, second: int, **extra: Any) -> dict[str, Any]:
    return {
        "name": "Seasons 四季",
        "items": [
            {"prompt_id": first, "variables": {"season": "winter"}, "count": 2},
            {"prompt_id": first, "variables": {"season": "spring", "animal": "hare"}},
            {"prompt_id": second, "count": 1},
        ],
        **extra,
    }


@BOTH_DATABASES
async def test_a_library_batch_is_queued_listed_filtered_and_canceled(
    client: httpx.AsyncClient, db: Database
) -> None:
    _alice, alice = await person(db, "alice")
    _bob, bob = await person(db, "bob")
    fox = await create_prompt(client, alice, **FOX)
    city = await create_prompt(client, bob, title="City", body="a city at night")
    response = await client.post(
        "/api/v1/prompts/batches", json=batch_body(fox, city), headers=alice
    )
    assert response.status_code == 201, response.text
    batch = response.json()
    assert batch["name"] == "Seasons 四季"
    assert (batch["state"], batch["total"], batch["queued"], batch["progress"]) == (
        "active",
        4,
        4,
        0.0,
    )
    jobs = (await client.get(f"/api/v1/jobs?batch_id={batch['batch_id']}", headers=alice)).json()
    prompts = sorted(job["prompt"] for job in jobs["items"])
    assert prompts == ["a city at night", "a fox in winter", "a fox in winter", "a hare in spring"]
    assert {job["kind"] for job in jobs["items"]} == {"batch-member"}
    assert {job["params"]["width"] for job in jobs["items"] if "fox" in job["prompt"]} == {256}
    seeds = [job["params"]["seed"] for job in jobs["items"] if job["prompt"] == "a fox in winter"]
    assert len(set(seeds)) == 2  # each run its own seed
    wallet = (await client.get("/api/v1/credits", headers=alice)).json()
    assert (wallet["balance"], wallet["reserved"]) == (96, 4)
    assert (await client.get(f"/api/v1/prompts/{fox}")).json()["usage_count"] == 2
    listed = (await client.get("/api/v1/batches", headers=alice)).json()
    assert [b["batch_id"] for b in listed["items"]] == [batch["batch_id"]]
    assert (
        await client.get(f"/api/v1/batches/{batch['batch_id']}", headers=bob)
    ).status_code == 404

    canceled = await client.post(f"/api/v1/batches/{batch['batch_id']}/cancel", headers=alice)
    assert canceled.status_code == 200
    assert (canceled.json()["state"], canceled.json()["canceled"]) == ("canceled", 4)
    again = await client.post(f"/api/v1/batches/{batch['batch_id']}/cancel", headers=alice)
    assert again.json()["canceled"] == 4
    wallet = (await client.get("/api/v1/credits", headers=alice)).json()
    assert (wallet["balance"], wallet["reserved"]) == (100, 0)
    other = await client.post(f"/api/v1/batches/{batch['batch_id']}/cancel", headers=bob)
    assert other.status_code == 404


@BOTH_DATABASES
async def test_totals_count_completed_and_failed_jobs(
    client: httpx.AsyncClient, db: Database
) -> None:
    _alice, alice = await person(db, "alice")
    fox = await create_prompt(client, alice, **FOX)
    body = {"name": "b", "items": [{"prompt_id": fox, "variables": {"season": "fall"}, "count": 4}]}
    batch = (await client.post("/api/v1/prompts/batches", json=body, headers=alice)).json()
    jobs = (await client.get(f"/api/v1/jobs?batch_id={batch['batch_id']}", headers=alice)).json()
    ids = [job["job_id"] for job in jobs["items"]]
    async with db.unit_of_work() as session:
        for job_id, state, step in zip(
            ids, ["succeeded", "failed", "running"], [4, 1, 2], strict=False
        ):
            await session.execute(
                update(Job).where(Job.job_id == job_id).values(state=state, step=step)  # type: ignore[arg-type]
            )
    found = (await client.get(f"/api/v1/batches/{batch['batch_id']}", headers=alice)).json()
    assert (found["succeeded"], found["failed"], found["running"], found["queued"]) == (1, 1, 1, 1)
    assert found["progress"] == pytest.approx((4 + 4 + 2) / 16)
    assert found["state"] == "active"


async def test_a_batch_runs_to_the_end(live: LiveServer) -> None:
    db = live.app.state.ctx.db
    _alice, alice = await person(db, "alice")
    async with httpx.AsyncClient(base_url=live.http_url, headers={"origin": live.http_url}) as http:
        fox = await create_prompt(http, alice, **FOX)
        body = {
            "name": "run",
            "items": [{"prompt_id": fox, "variables": {"season": "fall"}, "count": 3}],
        }
        batch = (await http.post("/api/v1/prompts/batches", json=body, headers=alice)).json()

        async def finished() -> Any:
            found = (await http.get(f"/api/v1/batches/{batch['batch_id']}", headers=alice)).json()
            return found if found["state"] == "finished" else None

        done = await eventually(finished, timeout=30, message="batch finished")
    assert (done["succeeded"], done["total"], done["progress"]) == (3, 3, 1.0)


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        (lambda b, f, c: b["items"][1]["variables"].pop("season"), 422, "items.1.variables"),
        (lambda b, f, c: b["items"][0]["variables"].update(colour="red"), 422, "items.0.variables"),
        (lambda b, f, c: b.update(model="no-such-model"), 422, "model"),
        (lambda b, f, c: b["items"][2].update(prompt_id=424242), 404, None),
        (lambda b, f, c: b["items"][0].update(count=17), 422, None),
        (lambda b, f, c: b.update(items=[]), 422, None),
        (lambda b, f, c: b.update(name=" "), 422, None),
        (lambda b, f, c: b.update(extra=1), 422, None),
    ],
)
async def test_bad_batches_queue_nothing(
    client: httpx.AsyncClient, db: Database, change: Any, status: int, field: str | None
) -> None:
    _alice, alice = await person(db, "alice")
    fox = await create_prompt(client, alice, **FOX)
    city = await create_prompt(client, alice, title="City", body="a city")
    body = batch_body(fox, city)
    change(body, fox, city)
    response = await client.post("/api/v1/prompts/batches", json=body, headers=alice)
    assert response.status_code == status, response.text
    if field is not None:
        assert response.json()["error"]["details"]["fields"][0]["field"] == field
    assert (await client.get("/api/v1/jobs", headers=alice)).json()["items"] == []
    assert (await client.get("/api/v1/batches", headers=alice)).json()["items"] == []
    assert (await client.get(f"/api/v1/prompts/{fox}")).json()["usage_count"] == 0


async def test_limits_and_credits_cover_the_whole_batch(
    client: httpx.AsyncClient, db: Database
) -> None:
    _alice, alice = await person(db, "alice")
    _bob, bob = await person(db, "bob")
    fox = await create_prompt(client, alice, **{**FOX, "params": {"count": 4}})
    private = await create_prompt(client, bob, title="Mine", body="x", visibility="private")
    lines = [{"prompt_id": fox, "variables": {"season": "fall"}, "count": 16} for _ in range(5)]
    too_many = await client.post(
        "/api/v1/prompts/batches", json={"name": "big", "items": lines}, headers=alice
    )
    assert too_many.status_code == 400
    assert too_many.json()["error"]["details"] == {"max_jobs": 64}
    lines = [{"prompt_id": fox, "variables": {"season": "fall"}, "count": 13}, *lines[:1]]
    poor = await client.post(
        "/api/v1/prompts/batches", json={"name": "pricey", "items": lines}, headers=alice
    )
    assert poor.status_code == 402
    assert poor.json()["error"]["details"] == {"balance": 100, "required": 116}
    hidden = await client.post(
        "/api/v1/prompts/batches",
        json={"name": "x", "items": [{"prompt_id": private}]},
        headers=alice,
    )
    assert hidden.status_code == 404
    assert (await client.get("/api/v1/credits", headers=alice)).json()["reserved"] == 0


@pytest.mark.parametrize("query", ["batch_id=NOT-HEX", "batch_id=" + "a" * 37])
async def test_job_filter_refuses_bad_batch_ids(
    client: httpx.AsyncClient, db: Database, query: str
) -> None:
    _alice, alice = await person(db, "alice")
    response = await client.get(f"/api/v1/jobs?{query}", headers=alice)
    assert response.status_code == 422


async def test_batch_endpoints_need_sign_in_and_known_ids(
    client: httpx.AsyncClient, db: Database
) -> None:
    for method, path in (
        ("GET", "/api/v1/batches"),
        ("GET", "/api/v1/batches/abc"),
        ("POST", "/api/v1/batches/abc/cancel"),
    ):
        assert (await client.request(method, path)).status_code == 401
    _alice, alice = await person(db, "alice")
    for path in ("/api/v1/batches/abc", "/api/v1/batches/%00", "/api/v1/batches/" + "f" * 40):
        assert (await client.get(path, headers=alice)).status_code == 404
    bad = await client.get("/api/v1/batches?cursor=WyJ4Il0", headers=alice)
    assert bad.status_code == 400


@BOTH_DATABASES
async def test_a_kind_batch_request_is_a_batch_too(client: httpx.AsyncClient, db: Database) -> None:
    _alice, alice = await person(db, "alice")
    body = {"kind": "batch", "model": "offline-sketch", "prompts": ["a cat", "a dog"]}
    submitted = await client.post("/api/v1/jobs", json=body, headers=alice)
    assert submitted.status_code == 201, submitted.text
    batch_id = submitted.json()["batch_id"]
    found = (await client.get(f"/api/v1/batches/{batch_id}", headers=alice)).json()
    assert (found["name"], found["total"], found["queued"]) == ("", 2, 2)
    canceled = (await client.post(f"/api/v1/batches/{batch_id}/cancel", headers=alice)).json()
    assert canceled["canceled"] == 2
