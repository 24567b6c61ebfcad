"""The job API through HTTP: submit (each bad input), read, list, cancel, queue view, pause."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import httpx
import pytest
from PIL import Image as PILImage
from sqlalchemy import func, select

from hub.collab.access import get_room
from hub.collab.models import RoomMember
from hub.context import HubContext
from hub.db import Database
from hub.generation import queue
from hub.generation.providers.registry import OFFLINE_PRESETS, with_roles
from rooms.types import Role
from tests.helpers import BOTH_DATABASES
from tests.hub.credits.helpers import assert_books_balance, bearer, make_user, wallet
from tests.hub.generation.helpers import EventLog, claim, load

JOBS = "/api/v1/jobs"


async def job_count(db: Database) -> int:
    async with db.unit_of_work() as session:
        return int(
            (await session.execute(select(func.count()).select_from(queue.JOBS))).scalar_one()
        )


def text2img(**fields: Any) -> dict[str, Any]:
    return {"kind": "text2img", "model": "offline-sketch", "prompt": "a lighthouse", **fields}


async def make_room(client: httpx.AsyncClient, headers: dict[str, str], **fields: Any) -> str:
    response = await client.post(
        "/api/v1/rooms", json={"title": "Studio", **fields}, headers=headers
    )
    assert response.status_code == 201, response.text
    slug: str = response.json()["slug"]
    return slug


@BOTH_DATABASES
async def test_submit_text2img_reserves_credits_and_queues(
    client: httpx.AsyncClient, db: Database, ctx: HubContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = EventLog()
    monkeypatch.setattr(ctx.generation, "events", events)
    alice = await make_user(db, "alice")
    studio = await make_room(client, await bearer(db, alice))
    body = text2img(width=256, height=384, steps=4, seed=7, count=2, room_id=studio)
    response = await client.post(JOBS, json=body, headers=await bearer(db, alice))
    assert response.status_code == 201, response.text
    data = response.json()
    (job,) = data["jobs"]
    assert job["state"] == "queued"
    assert job["kind"] == "text2img"
    assert job["params"] == {"width": 256, "height": 384, "steps": 4, "seed": 7, "count": 2}
    assert (job["cost"], data["cost"]) == (2, 2)
    assert (job["owner_id"], job["user_id"], job["room_id"]) == (alice.user_id,) * 2 + (studio,)
    assert data["balance"] == {"user_id": alice.user_id, "balance": 98, "reserved": 2}
    assert events.events == [(job["job_id"], "job.queued", {"position": 1})]
    await assert_books_balance(db, alice.user_id)


@BOTH_DATABASES
async def test_submit_with_a_room_you_cannot_see_is_404_and_stores_nothing(
    client: httpx.AsyncClient, db: Database
) -> None:
    alice = await make_user(db, "alice")
    bob = await make_user(db, "bob")
    as_alice = await bearer(db, alice)
    as_bob = await bearer(db, bob)
    private = await make_room(client, as_bob)
    public = await make_room(client, as_bob, visibility="public")
    answers = []
    for room_id in (private, "no-such-room", "not a room id!"):
        response = await client.post(JOBS, json=text2img(room_id=room_id), headers=as_alice)
        assert response.status_code == 404, response.text
        answers.append(response.json())
    # the same answer for someone else's private room and a room that does not exist
    assert answers[0] == answers[1] == answers[2]
    assert answers[0]["error"]["code"] == "not_found"
    assert await job_count(db) == 0
    assert await wallet(db, alice.user_id) in (None, (100, 0))
    # rooms you may see are accepted and stored on the job
    for room_id in (public, private):
        headers = as_alice if room_id == public else as_bob
        response = await client.post(JOBS, json=text2img(room_id=room_id), headers=headers)
        assert response.status_code == 201, response.text
        assert response.json()["jobs"][0]["room_id"] == room_id
    assert await job_count(db) == 2


@BOTH_DATABASES
async def test_submit_batch_makes_one_job_per_prompt(
    client: httpx.AsyncClient, db: Database
) -> None:
    alice = await make_user(db, "alice")
    body = {"kind": "batch", "model": "offline-detail", "prompts": ["a", "b", "c"], "count": 2}
    response = await client.post(JOBS, json=body, headers=await bearer(db, alice))
    assert response.status_code == 201, response.text
    data = response.json()
    assert [j["prompt"] for j in data["jobs"]] == ["a", "b", "c"]
    assert {j["batch_id"] for j in data["jobs"]} == {data["batch_id"]}
    assert all(j["kind"] == "batch-member" and j["cost"] == 4 for j in data["jobs"])
    assert data["cost"] == 12
    assert data["balance"]["reserved"] == 12
    # Same seed for every prompt of the batch, default steps of the model.
    assert len({j["params"]["seed"] for j in data["jobs"]}) == 1
    assert data["jobs"][0]["params"]["steps"] == 40


async def _upload(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    buffer = io.BytesIO()
    PILImage.new("RGB", (32, 32), (30, 90, 200)).save(buffer, "PNG")
    files = {"file": ("cat.png", buffer.getvalue(), "image/png")}
    response = await client.post("/api/v1/uploads", files=files, headers=headers)
    assert response.status_code == 201, response.text
    upload: dict[str, Any] = response.json()
    return upload


async def test_submit_img2img_with_source(client: httpx.AsyncClient, db: Database) -> None:
    alice = await make_user(db, "alice")
    headers = await bearer(db, alice)
    upload = await _upload(client, headers)
    body = {
        "kind": "img2img",
        "model": "offline-paint",
        "prompt": "watercolour",
        # The upload id works too; the job keeps the storage key it names.
        "source_image_key": upload["upload_id"],
        "strength": 0.25,
    }
    response = await client.post(JOBS, json=body, headers=headers)
    assert response.status_code == 201, response.text
    (job,) = response.json()["jobs"]
    assert job["source_image_key"] == upload["key"]
    assert job["params"]["strength"] == 0.25


async def test_submit_img2img_with_someone_elses_source_is_404(
    client: httpx.AsyncClient, db: Database
) -> None:
    alice = await make_user(db, "alice")
    mallory = await make_user(db, "mallory")
    upload = await _upload(client, await bearer(db, alice))
    for source in (upload["key"], upload["upload_id"], "uploads/1/cat.png"):
        body = {
            "kind": "img2img",
            "model": "offline-paint",
            "prompt": "x",
            "source_image_key": source,
        }
        response = await client.post(JOBS, json=body, headers=await bearer(db, mallory))
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "not_found"
    assert await job_count(db) == 0
    assert await wallet(db, mallory.user_id) in (None, (100, 0))  # nothing reserved


BAD_BODIES = [
    pytest.param(text2img(model="no-such-model"), 422, id="unknown-model"),
    pytest.param(text2img(prompt=""), 422, id="empty-prompt"),
    pytest.param(text2img(prompt="   \n"), 422, id="blank-prompt"),
    pytest.param(text2img(prompt="x" * 2001), 422, id="long-prompt"),
    pytest.param(text2img(prompt="nul\x00byte"), 422, id="nul-in-prompt"),
    pytest.param(text2img(negative_prompt="n" * 2001), 422, id="long-negative"),
    pytest.param(text2img(width=-64), 422, id="negative-width"),
    pytest.param(text2img(height=100_000), 422, id="huge-height"),
    pytest.param(text2img(width=100), 422, id="width-not-multiple-of-8"),
    pytest.param(text2img(width="512"), 422, id="width-as-string"),
    pytest.param(text2img(width=2048), 400, id="above-model-max-size"),
    pytest.param(text2img(count=0), 422, id="zero-count"),
    pytest.param(text2img(count=1000), 422, id="huge-count"),
    pytest.param(text2img(steps=0), 422, id="zero-steps"),
    pytest.param(text2img(steps=10_000), 422, id="huge-steps"),
    pytest.param(text2img(seed=-1), 422, id="negative-seed"),
    pytest.param(text2img(seed=2**40), 422, id="huge-seed"),
    pytest.param(text2img(strength=0.5), 422, id="strength-on-text2img"),
    pytest.param(text2img(source_image_key="a.png"), 422, id="source-on-text2img"),
    pytest.param(text2img(prompts=["a"]), 422, id="prompts-on-text2img"),
    pytest.param(text2img(kind="img2img"), 422, id="img2img-without-source"),
    pytest.param(
        text2img(kind="img2img", source_image_key="a.png", strength=1.5), 422, id="strength-1.5"
    ),
    pytest.param(text2img(kind="video"), 422, id="unknown-kind"),
    pytest.param(text2img(priority=10), 422, id="extra-field"),
    pytest.param({"kind": "batch", "model": "offline-sketch"}, 422, id="batch-without-prompts"),
    pytest.param(
        {"kind": "batch", "model": "offline-sketch", "prompts": []}, 422, id="batch-empty"
    ),
    pytest.param(
        {"kind": "batch", "model": "offline-sketch", "prompts": ["ok", " "]},
        422,
        id="batch-blank-prompt",
    ),
    pytest.param(
        {"kind": "batch", "model": "offline-sketch", "prompts": ["p"] * 17},
        400,
        id="batch-above-setting",
    ),
    pytest.param(
        {"kind": "batch", "model": "offline-sketch", "prompts": ["p"] * 65},
        422,
        id="batch-above-schema",
    ),
    pytest.param({"model": "offline-sketch"}, 422, id="no-prompt"),
    pytest.param(text2img(room_id=""), 422, id="empty-room"),
]


@pytest.mark.parametrize(("body", "status"), BAD_BODIES)
async def test_bad_submissions_are_rejected_and_reserve_nothing(
    client: httpx.AsyncClient, db: Database, body: dict[str, Any], status: int
) -> None:
    alice = await make_user(db, "alice")
    response = await client.post(JOBS, json=body, headers=await bearer(db, alice))
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] in ("validation_error", "bad_request")
    assert await job_count(db) == 0
    assert await wallet(db, alice.user_id) in (None, (100, 0))


async def test_non_json_submissions_are_rejected(client: httpx.AsyncClient, db: Database) -> None:
    alice = await make_user(db, "alice")
    headers = await bearer(db, alice)
    response = await client.post(JOBS, content=b"prompt=cat", headers=headers)
    assert response.status_code == 415
    response = await client.post(
        JOBS, content=b'{"prompt": ', headers={**headers, "content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"
    assert await job_count(db) == 0


async def test_model_restricted_to_other_roles_is_403(
    client: httpx.AsyncClient, db: Database, ctx: HubContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    presets = {p.id: p for p in OFFLINE_PRESETS}
    presets["offline-detail"] = with_roles(presets["offline-detail"], "admin")
    monkeypatch.setattr(ctx.generation, "presets", presets)
    alice = await make_user(db, "alice")
    admin = await make_user(db, "boss", role="admin")
    body = text2img(model="offline-detail")
    response = await client.post(JOBS, json=body, headers=await bearer(db, alice))
    assert response.status_code == 403
    models = await client.get("/api/v1/models", headers=await bearer(db, alice))
    assert [m["id"] for m in models.json()["items"]] == ["offline-sketch", "offline-paint"]
    response = await client.post(JOBS, json=body, headers=await bearer(db, admin))
    assert response.status_code == 201
    assert await wallet(db, alice.user_id) in (None, (100, 0))


@BOTH_DATABASES
async def test_insufficient_credits_is_402_with_balance(
    client: httpx.AsyncClient, db: Database
) -> None:
    alice = await make_user(db, "alice")
    headers = await bearer(db, alice)
    body = {"kind": "batch", "model": "offline-detail", "prompts": ["a"] * 13, "count": 4}
    response = await client.post(JOBS, json=body, headers=headers)
    assert response.status_code == 402
    assert response.json()["error"]["code"] == "insufficient_credits"
    assert response.json()["error"]["details"] == {"balance": 100, "required": 104}
    assert await job_count(db) == 0
    assert await wallet(db, alice.user_id) in (None, (100, 0))


@BOTH_DATABASES
async def test_fifty_concurrent_submissions_on_ten_credits(
    client: httpx.AsyncClient, db: Database, ctx: HubContext
) -> None:
    ctx.db.settings = ctx.db.settings.model_copy(update={"signup_credits": 10})
    alice = await make_user(db, "alice")
    headers = await bearer(db, alice)
    responses = await asyncio.gather(
        *(client.post(JOBS, json=text2img(prompt=f"p{n}"), headers=headers) for n in range(50))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] * 10 + [402] * 40
    assert await job_count(db) == 10
    assert await wallet(db, alice.user_id) == (0, 10)
    await assert_books_balance(db, alice.user_id)


async def test_queued_job_limit_is_429(
    client: httpx.AsyncClient, db: Database, ctx: HubContext
) -> None:
    ctx.db.settings = ctx.db.settings.model_copy(update={"jobs_per_user_queued": 2})
    alice = await make_user(db, "alice")
    headers = await bearer(db, alice)
    for _ in range(2):
        assert (await client.post(JOBS, json=text2img(), headers=headers)).status_code == 201
    response = await client.post(JOBS, json=text2img(), headers=headers)
    assert response.status_code == 429
    assert response.json()["error"]["details"] == {"queued": 2, "limit": 2}
    assert await wallet(db, alice.user_id) == (98, 2)


async def test_jobs_need_authentication(client: httpx.AsyncClient) -> None:
    for method, path in [
        ("POST", JOBS),
        ("GET", JOBS),
        ("GET", f"{JOBS}/x"),
        ("POST", f"{JOBS}/x/cancel"),
        ("GET", "/api/v1/queue"),
        ("GET", "/api/v1/models"),
        ("POST", "/api/v1/admin/queue/pause"),
    ]:
        response = await client.request(method, path, json={})
        assert response.status_code == 401, (method, path)


@BOTH_DATABASES
async def test_get_job_is_for_its_owner_and_admins_only(
    client: httpx.AsyncClient, db: Database
) -> None:
    alice = await make_user(db, "alice")
    bob = await make_user(db, "bob")
    admin = await make_user(db, "boss", role="admin")
    created = await client.post(JOBS, json=text2img(), headers=await bearer(db, alice))
    job_id = created.json()["jobs"][0]["job_id"]
    mine = await client.get(f"{JOBS}/{job_id}", headers=await bearer(db, alice))
    assert mine.status_code == 200
    assert mine.json()["position"] == 1
    assert mine.json()["eta_s"] > 0
    assert (await client.get(f"{JOBS}/{job_id}", headers=await bearer(db, bob))).status_code == 404
    assert (
        await client.get(f"{JOBS}/{job_id}", headers=await bearer(db, admin))
    ).status_code == 200
    missing = await client.get(f"{JOBS}/nope", headers=await bearer(db, alice))
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


@BOTH_DATABASES
async def test_list_my_jobs_by_state_with_cursor(client: httpx.AsyncClient, db: Database) -> None:
    alice = await make_user(db, "alice")
    bob = await make_user(db, "bob")
    headers = await bearer(db, alice)
    ids = []
    for n in range(5):
        response = await client.post(JOBS, json=text2img(prompt=f"p{n}"), headers=headers)
        ids.append(response.json()["jobs"][0]["job_id"])
    await client.post(JOBS, json=text2img(), headers=await bearer(db, bob))
    await client.post(f"{JOBS}/{ids[0]}/cancel", headers=headers)
    page = (await client.get(f"{JOBS}?state=queued&limit=3", headers=headers)).json()
    assert [j["job_id"] for j in page["items"]] == ids[:0:-1][:3]
    rest = (
        await client.get(
            JOBS,
            params={"state": "queued", "limit": 3, "cursor": page["next_cursor"]},
            headers=headers,
        )
    ).json()
    assert [j["job_id"] for j in rest["items"]] == [ids[1]]
    assert rest["next_cursor"] is None
    canceled = (await client.get(f"{JOBS}?state=canceled", headers=headers)).json()
    assert [j["job_id"] for j in canceled["items"]] == [ids[0]]
    for query in ("state=exploded", "limit=0", "cursor=zzz", "other=1"):
        response = await client.get(f"{JOBS}?{query}", headers=headers)
        assert response.status_code in (400, 422), query


@BOTH_DATABASES
async def test_cancel_queued_refunds_at_once(
    client: httpx.AsyncClient, db: Database, ctx: HubContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = EventLog()
    monkeypatch.setattr(ctx.generation, "events", events)
    alice = await make_user(db, "alice")
    bob = await make_user(db, "bob")
    headers = await bearer(db, alice)
    created = await client.post(JOBS, json=text2img(count=3), headers=headers)
    job_id = created.json()["jobs"][0]["job_id"]
    assert await wallet(db, alice.user_id) == (97, 3)
    other = await client.post(f"{JOBS}/{job_id}/cancel", headers=await bearer(db, bob))
    assert other.status_code == 404
    response = await client.post(f"{JOBS}/{job_id}/cancel", headers=headers)
    assert response.status_code == 200
    assert response.json()["state"] == "canceled"
    assert await wallet(db, alice.user_id) == (100, 0)
    again = await client.post(f"{JOBS}/{job_id}/cancel", headers=headers)
    assert again.status_code == 200
    assert again.json()["state"] == "canceled"
    assert await wallet(db, alice.user_id) == (100, 0)
    assert events.kinds(job_id) == ["job.queued", "job.canceled"]
    await assert_books_balance(db, alice.user_id)


@BOTH_DATABASES
async def test_cancel_running_flags_it_and_finished_jobs_conflict(
    client: httpx.AsyncClient, db: Database
) -> None:
    alice = await make_user(db, "alice")
    headers = await bearer(db, alice)
    first = (await client.post(JOBS, json=text2img(), headers=headers)).json()["jobs"][0]
    second = (await client.post(JOBS, json=text2img(), headers=headers)).json()["jobs"][0]
    running, done = await claim(db, 2)
    async with db.unit_of_work() as session:
        await queue.complete_job(session, job_id=done.job_id, lease=done.locked_by or "", images=[])
    response = await client.post(f"{JOBS}/{running.job_id}/cancel", headers=headers)
    assert response.status_code == 200
    assert response.json()["state"] == "running"
    assert response.json()["cancel_requested"]
    assert (await load(db, running.job_id)).cancel_requested
    finished = await client.post(f"{JOBS}/{done.job_id}/cancel", headers=headers)
    assert finished.status_code == 409
    assert finished.json()["error"]["code"] == "conflict"
    assert {first["job_id"], second["job_id"]} == {running.job_id, done.job_id}


@BOTH_DATABASES
async def test_queue_view_hides_other_peoples_prompts_unless_same_room(
    client: httpx.AsyncClient, db: Database, ctx: HubContext
) -> None:
    alice = await make_user(db, "alice")
    bob = await make_user(db, "bob")
    carol = await make_user(db, "carol")
    alpha = await make_room(client, await bearer(db, alice))  # private: alice's and carol's
    async with db.unit_of_work() as session:
        record = await get_room(session, alpha)
        assert record is not None
        assert record.room_id is not None
        session.add(RoomMember(room_id=record.room_id, user_id=carol.user_id, role=Role.VIEWER))
    await client.post(
        JOBS, json=text2img(prompt="secret plan", room_id=alpha), headers=await bearer(db, alice)
    )
    await client.post(JOBS, json=text2img(prompt="bob's idea"), headers=await bearer(db, bob))
    as_bob = (await client.get("/api/v1/queue", headers=await bearer(db, bob))).json()
    assert as_bob["queued"] == 2
    assert as_bob["running"] == 0
    assert not as_bob["paused"]
    assert [(i["position"], i["mine"], i["prompt"], i["room_id"]) for i in as_bob["items"]] == [
        (1, False, None, None),
        (2, True, "bob's idea", None),
    ]
    as_carol = (await client.get("/api/v1/queue", headers=await bearer(db, carol))).json()
    assert [(i["prompt"], i["room_id"]) for i in as_carol["items"]] == [
        ("secret plan", alpha),
        (None, None),
    ]


@BOTH_DATABASES
async def test_queue_view_hands_out_no_unlisted_room_to_outsiders(
    client: httpx.AsyncClient, db: Database
) -> None:
    # Anyone signed in may look into an unlisted room, but only with its slug: the queue must
    # not list that slug (or the prompts) to people who are not in the room.
    alice = await make_user(db, "alice")
    bob = await make_user(db, "bob")
    hidden = await make_room(client, await bearer(db, alice), visibility="unlisted")
    public = await make_room(client, await bearer(db, alice), visibility="public")
    for slug, prompt in ((hidden, "secret plan"), (public, "open plan")):
        response = await client.post(
            JOBS, json=text2img(prompt=prompt, room_id=slug), headers=await bearer(db, alice)
        )
        assert response.status_code == 201, response.text
    as_bob = (await client.get("/api/v1/queue", headers=await bearer(db, bob))).json()
    assert [(i["prompt"], i["room_id"]) for i in as_bob["items"]] == [
        (None, None),
        ("open plan", public),
    ]


async def test_pause_and_resume_are_admin_only(client: httpx.AsyncClient, db: Database) -> None:
    alice = await make_user(db, "alice")
    admin = await make_user(db, "boss", role="admin")
    for action in ("pause", "resume"):
        response = await client.post(
            f"/api/v1/admin/queue/{action}", headers=await bearer(db, alice)
        )
        assert response.status_code == 403
    await client.post(JOBS, json=text2img(), headers=await bearer(db, alice))
    admin_headers = await bearer(db, admin)
    paused = await client.post("/api/v1/admin/queue/pause", headers=admin_headers)
    assert paused.status_code == 200
    assert paused.json()["paused"]
    assert paused.json()["paused_by"] == admin.user_id
    assert paused.json()["queued"] == 1
    assert await claim(db, 5) == []
    view = (await client.get("/api/v1/queue", headers=admin_headers)).json()
    assert view["paused"] is True
    resumed = await client.post("/api/v1/admin/queue/resume", headers=admin_headers)
    assert resumed.json()["paused"] is False
    assert len(await claim(db, 5)) == 1


async def test_openapi_documents_the_job_and_credit_routes(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/api/v1/openapi.json")).json()
    post = doc["paths"]["/api/v1/jobs"]["post"]
    assert {"201", "402", "403", "422", "429"} <= set(post["responses"])
    assert "/api/v1/credits/ledger" in doc["paths"]
    assert "post" in doc["paths"]["/api/v1/admin/queue/pause"]


@BOTH_DATABASES
async def test_a_job_runs_end_to_end_through_the_api(
    client: httpx.AsyncClient, db: Database, ctx: HubContext
) -> None:
    from hub.generation.runners import step_runner
    from hub.generation.worker import Worker
    from tests.helpers import eventually

    alice = await make_user(db, "alice")
    headers = await bearer(db, alice)
    created = await client.post(JOBS, json=text2img(count=2), headers=headers)
    job_id = created.json()["jobs"][0]["job_id"]
    worker = Worker(ctx.db, db.settings, step_runner(steps=2), None)
    await worker.start()
    try:

        async def succeeded() -> dict[str, Any] | None:
            body: dict[str, Any] = (await client.get(f"{JOBS}/{job_id}", headers=headers)).json()
            return body if body["state"] == "succeeded" else None

        job = await eventually(succeeded, 10)
    finally:
        await worker.stop()
    assert [image["key"] for image in job["images"]] == [
        f"steps/{job_id}/0.txt",
        f"steps/{job_id}/1.txt",
    ]
    assert job["position"] is None
    assert job["error"] is None
    wallet_now = (await client.get("/api/v1/credits", headers=headers)).json()
    assert (wallet_now["balance"], wallet_now["reserved"]) == (98, 0)
    kinds = [
        e["kind"]
        for e in (await client.get("/api/v1/credits/ledger", headers=headers)).json()["items"]
    ]
    assert kinds == ["charge", "reserve", "grant"]


@BOTH_DATABASES
async def test_malformed_job_ids_and_cursors_are_not_found_or_bad_requests(
    client: httpx.AsyncClient, db: Database
) -> None:
    from hub.db import utcnow
    from hub.pagination import encode_cursor

    alice = await make_user(db, "alice")
    headers = await bearer(db, alice)
    for job_id in ("%00", "x" * 500, "..%2F..", "%E4%BD%A0"):
        assert (await client.get(f"{JOBS}/{job_id}", headers=headers)).status_code == 404
        cancel = await client.post(f"{JOBS}/{job_id}/cancel", headers=headers)
        assert cancel.status_code == 404
    cursor = encode_cursor(utcnow(), "nul\x00id")
    response = await client.get(JOBS, params={"cursor": cursor}, headers=headers)
    assert response.status_code == 400
