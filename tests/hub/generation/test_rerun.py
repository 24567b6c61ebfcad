"""``POST /api/v1/jobs/{job_id}/rerun`` ("run again") through HTTP: a new job with the same
parameters and credits reserved as usual; someone else's job, junk ids, a room you may no
longer generate in, too few credits and parameters today's limits refuse are each refused
with nothing queued or reserved."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import update

from hub.db import Database
from hub.generation import queue
from tests.helpers import BOTH_DATABASES
from tests.hub.credits.helpers import assert_books_balance, bearer, make_user, wallet
from tests.hub.generation.test_routes import JOBS, job_count, make_room, text2img


async def _submit(client: httpx.AsyncClient, headers: dict[str, str], **fields: Any) -> str:
    response = await client.post(JOBS, json=text2img(**fields), headers=headers)
    assert response.status_code == 201, response.text
    job_id: str = response.json()["jobs"][0]["job_id"]
    return job_id


@BOTH_DATABASES
async def test_rerun_makes_a_new_job_with_the_same_params_and_reserves_again(
    client: httpx.AsyncClient, db: Database
) -> None:
    alice = await make_user(db, "alice")
    as_alice = await bearer(db, alice)
    room = await make_room(client, as_alice)
    first = await _submit(
        client, as_alice, width=256, height=128, steps=3, seed=42, count=2, room_id=room
    )
    assert await wallet(db, alice.user_id) == (98, 2)

    response = await client.post(f"{JOBS}/{first}/rerun", headers=as_alice)
    assert response.status_code == 201, response.text
    data = response.json()
    (job,) = data["jobs"]
    assert job["job_id"] != first
    assert job["state"] == "queued"
    assert (job["kind"], job["model"], job["prompt"]) == (
        "text2img",
        "offline-sketch",
        "a lighthouse",
    )
    assert job["params"] == {"width": 256, "height": 128, "steps": 3, "seed": 42, "count": 2}
    assert (job["room_id"], job["owner_id"], job["user_id"]) == (room, alice.user_id, alice.user_id)
    assert data["cost"] == 2
    assert data["balance"] == {"user_id": alice.user_id, "balance": 96, "reserved": 4}
    assert await wallet(db, alice.user_id) == (96, 4)
    assert await job_count(db) == 2
    # The original is untouched and both are in "my jobs".
    listed = (await client.get(JOBS, headers=as_alice)).json()["items"]
    assert [j["job_id"] for j in listed] == [job["job_id"], first]
    assert listed[1]["state"] == "queued"
    await assert_books_balance(db, alice.user_id)


@BOTH_DATABASES
async def test_rerun_of_a_job_not_yours_or_junk_is_404_and_queues_nothing(
    client: httpx.AsyncClient, db: Database
) -> None:
    alice = await make_user(db, "alice")
    bob = await make_user(db, "bob")
    as_bob = await bearer(db, bob)
    first = await _submit(client, await bearer(db, alice))
    for job_id in (first, "0" * 36, "not-a-job", "x" * 300):
        response = await client.post(f"{JOBS}/{job_id}/rerun", headers=as_bob)
        assert response.status_code == 404, (job_id, response.text)
        assert response.json()["error"]["code"] == "not_found"
    anonymous = await client.post(f"{JOBS}/{first}/rerun")
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "unauthenticated"
    assert await job_count(db) == 1
    assert await wallet(db, bob.user_id) in (None, (100, 0))


async def test_rerun_without_credits_is_402_and_reserves_nothing(
    client: httpx.AsyncClient, db: Database
) -> None:
    alice = await make_user(db, "alice")
    as_alice = await bearer(db, alice)
    first = await _submit(client, as_alice, count=4)
    async with db.unit_of_work() as session:
        from hub.credits.models import Wallet

        await session.execute(update(Wallet).values(balance=3))
    response = await client.post(f"{JOBS}/{first}/rerun", headers=as_alice)
    assert response.status_code == 402, response.text
    error = response.json()["error"]
    assert error["code"] == "insufficient_credits"
    assert error["details"] == {"balance": 3, "required": 4}
    assert await job_count(db) == 1
    assert await wallet(db, alice.user_id) == (3, 4)


async def test_rerun_in_a_room_needs_you_to_still_edit_there(
    client: httpx.AsyncClient, db: Database
) -> None:
    owner = await make_user(db, "olga")
    bob = await make_user(db, "bob")
    as_owner, as_bob = await bearer(db, owner), await bearer(db, bob)
    room = await make_room(client, as_owner)
    invite = await client.post(
        f"/api/v1/rooms/{room}/invites", json={"role": "editor"}, headers=as_owner
    )
    token = invite.json()["token"]
    accepted = await client.post(f"/api/v1/invites/{token}/accept", headers=as_bob)
    assert accepted.status_code == 200, accepted.text
    bobs = await _submit(client, as_bob, room_id=room)

    demoted = await client.patch(
        f"/api/v1/rooms/{room}/members/{bob.user_id}", json={"role": "viewer"}, headers=as_owner
    )
    assert demoted.status_code == 200, demoted.text
    response = await client.post(f"{JOBS}/{bobs}/rerun", headers=as_bob)
    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == "forbidden"

    removed = await client.delete(f"/api/v1/rooms/{room}/members/{bob.user_id}", headers=as_owner)
    assert removed.status_code in (200, 204), removed.text
    response = await client.post(f"{JOBS}/{bobs}/rerun", headers=as_bob)
    assert response.status_code == 404, response.text

    olgas = await _submit(client, as_owner, room_id=room)
    closed = await client.post(f"/api/v1/rooms/{room}/close", headers=as_owner)
    assert closed.status_code == 200, closed.text
    response = await client.post(f"{JOBS}/{olgas}/rerun", headers=as_owner)
    assert response.status_code == 409, response.text
    assert await job_count(db) == 2


async def test_rerun_of_params_todays_limits_refuse_is_422(
    client: httpx.AsyncClient, db: Database
) -> None:
    alice = await make_user(db, "alice")
    as_alice = await bearer(db, alice)
    first = await _submit(client, as_alice)
    async with db.unit_of_work() as session:
        await session.execute(
            update(queue.JOBS)
            .where(queue.JOBS.c.job_id == first)
            .values(params={"width": 7, "height": 512, "steps": 4, "seed": 1, "count": 1})
        )
    response = await client.post(f"{JOBS}/{first}/rerun", headers=as_alice)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert [f["field"] for f in error["details"]["fields"]] == ["width"]
    assert await job_count(db) == 1
