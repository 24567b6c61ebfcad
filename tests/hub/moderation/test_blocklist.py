"""The prompt block-list: kept by moderators, checked before any job is queued (single jobs,
batches, room generations): 422 ``prompt_blocked`` naming the term, no credits reserved, no job."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from hub.db import Database
from hub.generation import blocklist, queue
from tests.helpers import BOTH_DATABASES
from tests.hub.moderation.helpers import ADMIN, API, audit_actions, member

JOBS = f"{API}/jobs"


def job(prompt: str, **fields: Any) -> dict[str, Any]:
    return {"kind": "text2img", "model": "offline-sketch", "prompt": prompt, **fields}


async def job_count(db: Database) -> int:
    async with db.unit_of_work() as session:
        found = await session.execute(select(func.count()).select_from(queue.JOBS))
        return int(found.scalar_one())


async def balance(client: httpx.AsyncClient, headers: dict[str, str]) -> tuple[int, int]:
    data = (await client.get(f"{API}/credits", headers=headers)).json()
    return data["balance"], data["reserved"]


@BOTH_DATABASES
async def test_a_blocked_prompt_is_refused_before_anything_is_queued(
    client: httpx.AsyncClient, db: Database
) -> None:
    ada, mod = await member(db, "ada"), await member(db, "moddy", role="moderator")
    url = f"{ADMIN}/blocklist"
    assert (await client.get(url)).status_code == 401
    assert (await client.get(url, headers=ada.headers)).status_code == 403
    assert (await client.post(url, json={"term": "x"}, headers=ada.headers)).status_code == 403
    for bad in ({"term": ""}, {"term": "   "}, {"term": "x" * 201}, {}):
        assert (await client.post(url, json=bad, headers=mod.headers)).status_code == 422, bad
    dragon = await client.post(url, json={"term": "Dragon"}, headers=mod.headers)
    assert dragon.status_code == 201
    again = await client.post(url, json={"term": "DRAGON"}, headers=mod.headers)
    assert (again.status_code, again.json()["term_id"]) == (201, dragon.json()["term_id"])
    assert (await client.post(url, json={"term": "血腥"}, headers=mod.headers)).status_code == 201
    listed = (await client.get(url, headers=mod.headers)).json()["items"]
    assert sorted(t["term"] for t in listed) == ["Dragon", "血腥"]

    before = await balance(client, ada.headers)
    slug = (await client.post(f"{API}/rooms", json={"title": "Den"}, headers=ada.headers)).json()[
        "slug"
    ]
    attempts = [
        (JOBS, job("a red dragon at dawn")),
        (JOBS, job("\uff24\uff32\uff21\uff27\uff2f\uff2e  breathing fire")),  # full width, any case
        (JOBS, job("一幅血腥的画")),  # Chinese: no word boundaries
        (JOBS, {"kind": "batch", "model": "offline-sketch", "prompts": ["a cat", "dragon"]}),
        (f"{API}/rooms/{slug}/jobs", {"prompt": "the dragon's lair"}),
    ]
    for path, body in attempts:
        refused = await client.post(path, json=body, headers=ada.headers)
        assert refused.status_code == 422, (body, refused.text)
        error = refused.json()["error"]
        assert error["code"] == "prompt_blocked"
        assert error["details"]["term"] in ("Dragon", "血腥")
    assert await job_count(db) == 0
    assert await balance(client, ada.headers) == before

    # Words that only contain a Latin term are not it; the negative prompt is not checked.
    fine = job("a dragonfly over a pond", negative_prompt="dragon")
    assert (await client.post(JOBS, json=fine, headers=ada.headers)).status_code == 201
    term_id = dragon.json()["term_id"]
    assert (await client.delete(f"{url}/{term_id}", headers=ada.headers)).status_code == 403
    assert (await client.delete(f"{url}/{term_id}", headers=mod.headers)).status_code == 204
    assert (await client.delete(f"{url}/{term_id}", headers=mod.headers)).status_code == 404
    assert (await client.post(JOBS, json=job("a dragon"), headers=ada.headers)).status_code == 201
    assert [a[0] for a in await audit_actions(db)] == [
        "blocklist.add",
        "blocklist.add",
        "blocklist.remove",
    ]


@BOTH_DATABASES
async def test_a_library_batch_with_a_blocked_prompt_queues_nothing(
    client: httpx.AsyncClient, db: Database
) -> None:
    ada, mod = await member(db, "ada"), await member(db, "moddy", role="moderator")
    await client.post(f"{ADMIN}/blocklist", json={"term": "gore"}, headers=mod.headers)
    made = await client.post(
        f"{API}/prompts",
        json={"title": "Scene", "body": "a {thing} in the rain", "visibility": "public"},
        headers=ada.headers,
    )
    assert made.status_code == 201, made.text
    prompt_id = made.json()["id"]
    body = {
        "name": "Rainy",
        "items": [
            {"prompt_id": prompt_id, "variables": {"thing": "cat"}},
            {"prompt_id": prompt_id, "variables": {"thing": "pile of gore"}},
        ],
    }
    refused = await client.post(f"{API}/prompts/batches", json=body, headers=ada.headers)
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["details"] == {"term": "gore"}
    assert await job_count(db) == 0


@pytest.mark.parametrize(
    ("term", "prompt", "blocked"),
    [
        ("ass", "a class of students", False),
        ("ass", "kick ass", True),
        ("red  sky", "a Red Sky at night", True),
        ("龙", "一条龙", True),
        ("c++", "written in C++!", True),
    ],
)
def test_matching(term: str, prompt: str, blocked: bool) -> None:
    matcher = blocklist._Matcher(((term, blocklist._pattern(blocklist.normalize(term))),))
    assert (matcher.find(prompt) is not None) is blocked
