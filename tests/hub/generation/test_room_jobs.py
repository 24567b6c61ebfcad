"""Generations started from a room, through a real uvicorn: the document becomes the job, every
member's event socket sees every step and the result, the images are served; each bad input; and
a separate ``hub worker`` process whose events still reach the room over Redis."""

from __future__ import annotations

import base64
import io
import signal
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy import select

from hub.credits import service as credits_service
from hub.credits.models import Wallet
from hub.generation import queue
from hub.settings import Settings
from tests.databases import truncate_postgres
from tests.fault.redis_server import RedisServer
from tests.helpers import BOTH_DATABASES, eventually
from tests.hub.collab.conftest import TestUser, add_member, create_room, create_test_user
from tests.hub.collab.helpers import events_url, http, hub_ctx, joined, yjs_url
from tests.hub.credits.helpers import EMBEDDED_WORKER
from tests.live import LiveServer, serve_hub
from tests.processes import HubProcess, hub_env
from tests.rooms.ykit import EventClient

API = "/api/v1"


@pytest.fixture
async def api(live: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with http(live) as client:
        yield client


class Studio:
    """A room with an owner, an editor and a viewer, made through the API."""

    def __init__(self, live: LiveServer, api: httpx.AsyncClient) -> None:
        self.live = live
        self.api = api
        self.slug = ""
        self.owner: TestUser
        self.editor: TestUser
        self.viewer: TestUser

    async def open(self, **room_fields: Any) -> Studio:
        ctx = hub_ctx(self.live)
        tag = uuid.uuid4().hex[:6]
        self.owner = await create_test_user(ctx, f"olivia{tag}", "Olivia")
        self.editor = await create_test_user(ctx, f"edward{tag}", "Edward 爱德华")
        self.viewer = await create_test_user(ctx, f"violet{tag}", "Violet")
        room = await create_room(self.api, self.owner, **room_fields)
        self.slug = room["slug"]
        await add_member(self.api, self.owner, self.slug, self.editor, "editor")
        await add_member(self.api, self.owner, self.slug, self.viewer, "viewer")
        return self

    async def write(self, prompt: str, **params: Any) -> None:
        """Edits the document as a y-websocket client would, and waits until the server has it."""
        client = await joined(yjs_url(self.live, self.slug, self.editor), "edward")
        try:
            with client.doc.transaction():
                client.insert(0, prompt)
                for name, value in params.items():
                    client.params[name] = value
            await eventually(
                lambda: self.document_matches(prompt, params), timeout=5, message="document"
            )
        finally:
            await client.close()

    async def document_matches(self, prompt: str, params: dict[str, Any]) -> bool:
        url = f"{API}/rooms/{self.slug}/document"
        doc = (await self.api.get(url, headers=self.owner.headers)).json()
        wanted = {**doc["params"], **params}
        return bool(doc["prompt"] == prompt and doc["params"] == wanted)

    async def generate(self, user: TestUser, body: dict[str, Any] | None = None) -> httpx.Response:
        url = f"{API}/rooms/{self.slug}/jobs"
        if body is None:
            return await self.api.post(url, headers=user.headers)
        return await self.api.post(url, json=body, headers=user.headers)

    async def listen(self, user: TestUser) -> EventClient:
        client = await EventClient.open(events_url(self.live, self.slug, user))
        await client.wait_for("welcome")
        return client


def job_events(client: EventClient, job_id: str) -> list[dict[str, Any]]:
    return [
        m
        for m in client.messages
        if str(m.get("type", "")).startswith("job.") and m["data"].get("job_id") == job_id
    ]


async def wait_finished(client: EventClient, job_id: str, timeout: float = 20) -> dict[str, Any]:
    terminal = ("job.succeeded", "job.failed", "job.canceled")

    def done() -> list[dict[str, Any]]:
        return [e for e in job_events(client, job_id) if e["type"] in terminal]

    (last,) = await eventually(done, timeout, message=f"job {job_id} finished")
    finished: dict[str, Any] = last
    return finished


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


async def wallet(live: LiveServer, user_id: int) -> tuple[int, int]:
    async with hub_ctx(live).db.unit_of_work() as session:
        row = await session.get(Wallet, user_id)
        assert row is not None
        return row.balance, row.reserved


# --- the acceptance path -------------------------------------------------------------------------


@BOTH_DATABASES
async def test_members_see_every_step_and_the_images(
    live: LiveServer, api: httpx.AsyncClient
) -> None:
    studio = await Studio(live, api).open()
    await studio.write(
        "一座灯塔 at dusk", model="offline-sketch", size="128x96", steps=3, seed=42, count=2
    )
    owner_events = await studio.listen(studio.owner)
    viewer_events = await studio.listen(studio.viewer)
    try:
        response = await studio.generate(studio.editor)
        assert response.status_code == 201, response.text
        submitted = response.json()
        (job,) = submitted["jobs"]
        job_id = job["job_id"]
        assert job["prompt"] == "一座灯塔 at dusk"
        assert job["room_id"] == studio.slug
        assert job["params"] == {"width": 128, "height": 96, "steps": 3, "seed": 42, "count": 2}
        assert (job["model"], job["owner_id"], job["user_id"]) == (
            "offline-sketch",
            studio.editor.user_id,
            studio.editor.user_id,
        )
        assert submitted["balance"]["reserved"] == 2

        for client in (owner_events, viewer_events):
            finished = await wait_finished(client, job_id)
            assert finished["type"] == "job.succeeded"
            events = job_events(client, job_id)
            kinds = [e["type"] for e in events]
            assert {"job.queued", "job.started"} <= set(kinds)
            assert kinds.index("job.started") < kinds.index("job.progress")
            assert kinds[-1] == "job.succeeded"
            progress = [e["data"] for e in events if e["type"] == "job.progress"]
            # 3 steps x 2 images, every one, in order, to every member
            assert [p["step"] for p in progress] == [1, 2, 3, 4, 5, 6]
            assert {p["total"] for p in progress} == {6}
            assert all(p["eta_s"] is None or p["eta_s"] >= 0 for p in progress)
            for tick in progress:
                assert tick["preview"].startswith("data:image/jpeg;base64,")
                preview = decode(base64.b64decode(tick["preview"].split(",", 1)[1]))
                assert preview.format == "JPEG"
                assert max(preview.size) <= 64
            assert {e["data"]["owner_name"] for e in events} == {"Edward 爱德华"}
            queued = next(e for e in events if e["type"] == "job.queued")
            assert queued["data"]["position"] in (1, None)

        images = finished["data"]["images"]
        assert len(images) == 2
        for image in images:
            assert set(image) == {"image_id", "url", "thumb_url", "width", "height"}
            assert (image["width"], image["height"]) == (128, 96)
            original = await api.get(image["url"])
            assert original.status_code == 200
            picture = decode(original.content)
            assert (picture.format, picture.size) == ("PNG", (128, 96))
            thumb = await api.get(image["thumb_url"])
            assert thumb.status_code == 200
            small = decode(thumb.content)
            assert small.format == "WEBP"
            assert max(small.size) <= 512
            assert small.size[0] / small.size[1] == pytest.approx(128 / 96, rel=0.05)
    finally:
        await owner_events.close()
        await viewer_events.close()

    # The database agrees: succeeded, charged to whoever pressed, images in their library.
    done = (await api.get(f"{API}/jobs/{job_id}", headers=studio.editor.headers)).json()
    assert done["state"] == "succeeded"
    assert [i["image_id"] for i in done["images"]] == [i["image_id"] for i in images]
    assert all(i["thumb_url"] for i in done["images"])
    assert await wallet(live, studio.editor.user_id) == (98, 0)
    library = (await api.get(f"{API}/images", headers=studio.editor.headers)).json()
    assert {i["image_id"] for i in library["items"]} == {i["image_id"] for i in images}
    # Progress ticks are not replayed to a reconnecting client; the rest is.
    replayed = await EventClient.open(events_url(live, studio.slug, studio.owner, since="0"))
    try:
        await replayed.wait_for("job.succeeded")
        kinds = [m["type"] for m in job_events(replayed, job_id)]
        assert "job.progress" not in kinds
        assert kinds[-1] == "job.succeeded"
    finally:
        await replayed.close()


async def test_overrides_win_over_the_document(live: LiveServer, api: httpx.AsyncClient) -> None:
    studio = await Studio(live, api).open()
    await studio.write("a red kite", size="256x256", steps=9, seed=-1, count=3)
    body = {"prompt": "a blue kite", "model": "offline-paint", "width": 64, "steps": 2, "count": 1}
    response = await studio.generate(studio.owner, body)
    assert response.status_code == 201, response.text
    (job,) = response.json()["jobs"]
    assert (job["prompt"], job["model"]) == ("a blue kite", "offline-paint")
    params = job["params"]
    assert (params["width"], params["height"], params["steps"], params["count"]) == (64, 256, 2, 1)
    assert 0 <= params["seed"] < 2**32  # -1 in the document: a random seed


async def test_owner_pays_when_the_room_says_so(live: LiveServer, api: httpx.AsyncClient) -> None:
    studio = await Studio(live, api).open(payer="owner")
    await studio.write("a paper boat", model="offline-detail", size="64x64", steps=2)
    events = await studio.listen(studio.editor)
    try:
        response = await studio.generate(studio.editor)
        assert response.status_code == 201, response.text
        submitted = response.json()
        (job,) = submitted["jobs"]
        assert (job["owner_id"], job["user_id"]) == (studio.editor.user_id, studio.owner.user_id)
        assert submitted["balance"]["user_id"] == studio.owner.user_id
        assert (await wait_finished(events, job["job_id"]))["type"] == "job.succeeded"
    finally:
        await events.close()
    assert await wallet(live, studio.owner.user_id) == (98, 0)  # offline-detail: 2 per image
    assert await wallet_or_none(live, studio.editor.user_id) in (None, (100, 0))
    # Whoever pressed sees and owns the job (and its images); the owner may read it as payer.
    for user in (studio.editor, studio.owner):
        seen = await api.get(f"{API}/jobs/{job['job_id']}", headers=user.headers)
        assert seen.status_code == 200


async def test_img2img_from_a_room_uses_your_upload(
    live: LiveServer, api: httpx.AsyncClient
) -> None:
    studio = await Studio(live, api).open()
    await studio.write("the same scene at night", size="64x64", steps=2, strength=0.4)
    buffer = io.BytesIO()
    Image.new("RGB", (80, 80), (250, 200, 20)).save(buffer, "PNG")
    files = {"file": ("day.png", buffer.getvalue(), "image/png")}
    upload = await api.post(f"{API}/uploads", files=files, headers=studio.editor.headers)
    assert upload.status_code == 201, upload.text
    source = upload.json()
    events = await studio.listen(studio.owner)
    try:
        theirs = await studio.generate(studio.owner, {"source_image_key": source["upload_id"]})
        assert theirs.status_code == 404  # someone else's upload
        response = await studio.generate(studio.editor, {"source_image_key": source["upload_id"]})
        assert response.status_code == 201, response.text
        (job,) = response.json()["jobs"]
        assert (job["kind"], job["source_image_key"]) == ("img2img", source["key"])
        assert job["params"]["strength"] == 0.4
        finished = await wait_finished(events, job["job_id"])
        assert finished["type"] == "job.succeeded", finished
    finally:
        await events.close()


async def test_queue_view_shows_room_prompts_to_members_only(
    live: LiveServer, api: httpx.AsyncClient
) -> None:
    studio = await Studio(live, api).open()
    ctx = hub_ctx(live)
    outsider = await create_test_user(ctx, f"oscar{uuid.uuid4().hex[:6]}", "Oscar")
    await queue_pause(live)
    await studio.write("the secret plan", size="64x64", steps=1)
    response = await studio.generate(studio.editor)
    assert response.status_code == 201, response.text
    as_viewer = (await api.get(f"{API}/queue", headers=studio.viewer.headers)).json()
    as_outsider = (await api.get(f"{API}/queue", headers=outsider.headers)).json()
    assert [(i["prompt"], i["room_id"]) for i in as_viewer["items"]] == [
        ("the secret plan", studio.slug)
    ]
    assert [(i["prompt"], i["room_id"]) for i in as_outsider["items"]] == [(None, None)]


async def queue_pause(live: LiveServer) -> None:
    async with hub_ctx(live).db.unit_of_work() as session:
        await queue.set_paused(session, paused=True, actor_id=None)


# --- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "body", "status", "needle"),
    [
        pytest.param({}, None, 422, "The room's prompt is empty", id="empty-prompt"),
        pytest.param({"model": "dall-e-9"}, {}, 422, "no model 'dall-e-9'", id="unknown-model"),
        pytest.param({"size": "huge"}, {}, 422, "size must look like", id="bad-size"),
        pytest.param({"size": "100x100"}, {}, 422, "multiple of 8", id="size-not-8"),
        pytest.param({"steps": "many"}, {}, 422, "steps must be a whole number", id="bad-steps"),
        pytest.param({"steps": 2.5}, {}, 422, "steps must be a whole number", id="frac-steps"),
        pytest.param({"count": 9}, {}, 422, "count", id="count-too-high"),
        pytest.param({"steps": 0}, {}, 422, "steps", id="steps-zero"),
        pytest.param({"model": 7}, {}, 422, "model must be a model id", id="model-number"),
        pytest.param({"size": "4096x4096"}, {}, 422, "width", id="size-too-big"),
        pytest.param({}, {"strength": 0.5, "prompt": "x"}, 422, "img2img", id="strength-t2i"),
        pytest.param({}, {"prompt": "x", "colour": "red"}, 422, "", id="unknown-field"),
        pytest.param({}, {"prompt": "x", "steps": "4"}, 422, "", id="steps-as-string"),
        pytest.param({}, {"prompt": "x\x00"}, 422, "", id="nul-in-prompt"),
        pytest.param({}, {"prompt": "x", "count": 5}, 422, "", id="count-override-5"),
        pytest.param({}, {"prompt": "x", "source_image_key": "uploads/1/x.png"}, 404, "", id="src"),
    ],
)
async def test_bad_room_job_input_is_refused_and_queues_nothing(
    live: LiveServer,
    api: httpx.AsyncClient,
    params: dict[str, Any],
    body: dict[str, Any] | None,
    status: int,
    needle: str,
) -> None:
    studio = await Studio(live, api).open()
    if params:
        await studio.write("a harbour", **params)
    response = await studio.generate(studio.editor, body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert needle in error["message"], error
    assert await job_count(live) == 0
    assert await wallet_or_none(live, studio.editor.user_id) in (None, (100, 0))


async def test_bad_bodies_get_the_documented_errors(
    live: LiveServer, api: httpx.AsyncClient
) -> None:
    studio = await Studio(live, api).open()
    url = f"{API}/rooms/{studio.slug}/jobs"
    headers = {**studio.editor.headers, "content-type": "application/json"}
    not_json = await api.post(url, content=b"{nope", headers=headers)
    assert (not_json.status_code, not_json.json()["error"]["code"]) == (400, "invalid_json")
    a_list = await api.post(url, content=b"[]", headers=headers)
    assert (a_list.status_code, a_list.json()["error"]["code"]) == (400, "invalid_json")
    text = await api.post(
        url, content=b"x", headers={**studio.editor.headers, "content-type": "text/plain"}
    )
    assert text.status_code == 415
    assert await job_count(live) == 0


@BOTH_DATABASES
async def test_who_may_generate_in_a_room(live: LiveServer, api: httpx.AsyncClient) -> None:
    studio = await Studio(live, api).open()
    await studio.write("a lantern", size="64x64", steps=1)
    outsider = await create_test_user(hub_ctx(live), f"oscar{uuid.uuid4().hex[:6]}", "Oscar")
    viewer = await studio.generate(studio.viewer)
    assert viewer.status_code == 403, viewer.text
    assert viewer.json()["error"]["code"] == "forbidden"
    assert "editors" in viewer.json()["error"]["message"]
    hidden = await studio.generate(outsider)  # a private room: not even its existence
    assert hidden.status_code == 404
    anonymous = await api.post(f"{API}/rooms/{studio.slug}/jobs", json={})
    assert anonymous.status_code == 401
    missing = await api.post(
        f"{API}/rooms/no-such-room/jobs", json={}, headers=studio.owner.headers
    )
    assert missing.status_code == 404
    for slug in ("x" * 300, "a%00b", "%C3%A9t%C3%A9", "-dash-first"):
        odd = await api.post(f"{API}/rooms/{slug}/jobs", json={}, headers=studio.owner.headers)
        assert odd.status_code == 404, (slug, odd.text)
    assert await job_count(live) == 0


async def test_a_closed_room_generates_nothing(live: LiveServer, api: httpx.AsyncClient) -> None:
    studio = await Studio(live, api).open()
    await studio.write("a lantern", size="64x64", steps=1)
    closed = await api.post(f"{API}/rooms/{studio.slug}/close", headers=studio.owner.headers)
    assert closed.status_code == 200, closed.text
    for user in (studio.owner, studio.editor):
        response = await studio.generate(user)
        assert response.status_code == 409, response.text
        assert response.json()["error"]["code"] == "room_closed"
    assert await job_count(live) == 0


@pytest.mark.parametrize("payer", ["member", "owner"])
async def test_too_few_credits_is_402_with_the_balance(
    live: LiveServer, api: httpx.AsyncClient, payer: str
) -> None:
    studio = await Studio(live, api).open(payer=payer)
    await studio.write("a castle", model="offline-detail", size="64x64", steps=1, count=4)
    pays = studio.owner if payer == "owner" else studio.editor
    async with hub_ctx(live).db.unit_of_work() as session:
        await credits_service.adjust_credits(
            session, AdminActor(pays.user_id), user_id=pays.user_id, amount=-95, memo="test"
        )
    response = await studio.generate(studio.editor)
    assert response.status_code == 402, response.text
    error = response.json()["error"]
    assert error["code"] == "insufficient_credits"
    assert error["details"]["balance"] == 5
    assert error["details"]["required"] == 8
    if payer == "owner":
        assert error["details"]["payer"] == "owner"
        assert "room owner" in error["message"]
    assert await job_count(live) == 0
    assert await wallet(live, pays.user_id) == (5, 0)


class AdminActor:
    role = "admin"

    def __init__(self, user_id: int) -> None:
        self.user_id = user_id


async def job_count(live: LiveServer) -> int:
    async with hub_ctx(live).db.unit_of_work() as session:
        return len((await session.execute(select(queue.JOBS.c.job_id))).all())


async def wallet_or_none(live: LiveServer, user_id: int) -> tuple[int, int] | None:
    async with hub_ctx(live).db.unit_of_work() as session:
        row = await session.get(Wallet, user_id)
        return (row.balance, row.reserved) if row else None


# --- the cancel path ------------------------------------------------------------------------------


async def test_the_owner_cancels_a_running_room_job(
    live: LiveServer, api: httpx.AsyncClient
) -> None:
    studio = await Studio(live, api).open()
    await studio.write("a slow river", model="offline-detail", size="64x64", steps=150)
    events = await studio.listen(studio.viewer)
    try:
        response = await studio.generate(studio.editor)
        assert response.status_code == 201, response.text
        job_id = response.json()["jobs"][0]["job_id"]
        await eventually(
            lambda: any(e["type"] == "job.progress" for e in job_events(events, job_id)),
            timeout=10,
            message="running",
        )
        others = await api.post(f"{API}/jobs/{job_id}/cancel", headers=studio.viewer.headers)
        assert others.status_code == 404  # only who pressed (or an admin) may cancel
        mine = await api.post(f"{API}/jobs/{job_id}/cancel", headers=studio.editor.headers)
        assert mine.status_code == 200, mine.text
        finished = await wait_finished(events, job_id)
        assert finished["type"] == "job.canceled"
    finally:
        await events.close()
    assert await wallet(live, studio.editor.user_id) == (100, 0)


# --- a worker in another process -----------------------------------------------------------------


def start_worker(settings: Settings, env_extra: dict[str, str], log: Path) -> HubProcess:
    env = hub_env(
        settings.effective_database_url,
        settings.data_dir,
        HUB_OFFLINE_STEP_DELAY="0.02",
        HUB_JOB_POLL_INTERVAL="0.05",
        HUB_JOB_LEASE_SECONDS="5",
        HUB_LOG_LEVEL="INFO",
        **env_extra,
    )
    return HubProcess.worker(env, log)


@pytest.mark.slow
@pytest.mark.redis
@BOTH_DATABASES
async def test_a_separate_worker_process_reaches_the_room(
    settings: Settings, tmp_path: Path
) -> None:
    # A private redis-server: rate-limit keys are per user id and not prefixed, so a shared Redis
    # would carry other runs' counts into this one.
    redis = RedisServer()
    redis.start()
    redis_url = redis.url
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    shared = {"redis_url": redis_url, "redis_key_prefix": prefix}
    worker: HubProcess | None = None
    log = tmp_path / "worker.log"
    try:
        async with (
            serve_hub(settings, **{**EMBEDDED_WORKER, **shared, "embedded_worker": False}) as live,
            http(live) as api,
        ):
            generation = hub_ctx(live).generation
            assert generation is not None
            assert generation.worker is None
            studio = await Studio(live, api).open()
            await studio.write("两只猫 on a roof", size="64x64", steps=4, seed=3)
            member = await studio.listen(studio.viewer)
            personal = PersonalStream(live, studio.editor)
            await personal.start()
            try:
                response = await studio.generate(studio.editor)
                assert response.status_code == 201, response.text
                job_id = response.json()["jobs"][0]["job_id"]
                worker = start_worker(
                    settings,
                    {"REDIS_URL": redis_url, "HUB_REDIS_KEY_PREFIX": prefix},
                    log,
                )
                finished = await wait_finished(member, job_id, timeout=60)
                assert finished["type"] == "job.succeeded", log.read_text()
                kinds = [e["type"] for e in job_events(member, job_id)]
                assert "job.started" in kinds
                steps = [
                    e["data"]["step"]
                    for e in job_events(member, job_id)
                    if e["type"] == "job.progress"
                ]
                assert steps == [1, 2, 3, 4]
                (image,) = finished["data"]["images"]
                served = await api.get(image["url"])
                assert decode(served.content).size == (64, 64)
                # The owner's personal stream on the web process got them too, via the bus.
                await eventually(
                    lambda: "job.succeeded" in personal.kinds(job_id), timeout=10, message="sse"
                )
                assert [e["data"]["step"] for e in personal.of(job_id, "job.progress")] == [
                    1,
                    2,
                    3,
                    4,
                ]
            finally:
                await personal.stop()
                await member.close()
    finally:
        if worker is not None and worker.process.poll() is None:
            worker.process.send_signal(signal.SIGTERM)
            try:
                assert worker.process.wait(timeout=30) == 0, log.read_text()
            finally:
                worker.stop()
        redis.stop()
        await truncate_postgres(settings)


class PersonalStream:
    """Reads ``GET /api/v1/jobs/events`` (Server-Sent Events) in the background."""

    def __init__(self, live: LiveServer, user: TestUser) -> None:
        self.live = live
        self.user = user
        self.messages: list[dict[str, Any]] = []
        self.status: int | None = None
        self._task: Any = None
        # No read timeout: the stream is quiet between jobs (keep-alives every 15 s).
        self._client = httpx.AsyncClient(
            base_url=live.http_url, timeout=httpx.Timeout(10.0, read=None)
        )

    async def start(self) -> None:
        import asyncio
        import json

        async def read() -> None:
            async with self._client.stream(
                "GET", f"{API}/jobs/events", headers=self.user.headers
            ) as response:
                self.status = response.status_code
                async for line in response.aiter_lines():
                    if line.startswith("data: "):
                        self.messages.append(json.loads(line[6:]))

        self._task = asyncio.create_task(read())
        await eventually(lambda: any(m["type"] == "hello" for m in self.messages), message="hello")

    def of(self, job_id: str, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("job_id") == job_id and m["type"] == kind]

    def kinds(self, job_id: str) -> list[str]:
        return [m["type"] for m in self.messages if m.get("job_id") == job_id]

    async def stop(self) -> None:
        import asyncio
        import contextlib

        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self._client.aclose()


# --- the document as a request (no server) ------------------------------------------------------


def request_from(document: dict[str, Any], **overrides: Any) -> Any:
    from hub.generation.room_request import room_job_request
    from hub.generation.schemas import RoomJobIn

    return room_job_request(
        document, RoomJobIn(**overrides), room_id="studio", default_model="offline-sketch"
    )


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        # Browsers write Yjs numbers as floats; other clients may write digit strings.
        pytest.param(
            {"steps": 30.0, "count": 2.0, "size": "128\u00d764", "seed": " 7 "},
            {"steps": 30, "count": 2, "width": 128, "height": 64, "seed": 7},
            id="floats-strings-times-sign",
        ),
        pytest.param({"seed": -1.0}, {"seed": None}, id="negative-seed-is-random"),
        pytest.param({"size": "", "steps": None}, {"width": None, "steps": None}, id="blanks"),
        pytest.param({"model": "  "}, {"model": "offline-sketch"}, id="blank-model-default"),
        pytest.param({"strength": 0.75}, {"strength": None}, id="strength-ignored-t2i"),
    ],
)
def test_room_documents_become_requests(params: dict[str, Any], expected: dict[str, Any]) -> None:
    request = request_from({"prompt": "a fox", "negative": "blur", "params": params})
    assert (request.kind, request.prompt, request.negative_prompt) == ("text2img", "a fox", "blur")
    assert request.room_id == "studio"
    for name, value in expected.items():
        assert getattr(request, name) == value, name


def test_an_img2img_override_takes_the_room_strength() -> None:
    document = {"prompt": "a fox", "params": {"strength": 0.3}}
    request = request_from(document, source_image_key="uploads/1/a.png")
    assert (request.kind, request.strength) == ("img2img", 0.3)
    assert request_from(document, source_image_key="k", strength=0.9).strength == 0.9


@pytest.mark.parametrize(
    ("document", "needle"),
    [
        pytest.param({"prompt": " \n "}, "prompt is empty", id="blank-prompt"),
        pytest.param({"prompt": 5}, "prompt is empty", id="prompt-not-text"),
        pytest.param({"prompt": "x", "params": {"steps": True}}, "steps", id="bool-steps"),
        pytest.param({"prompt": "x", "params": {"size": 512}}, "size", id="size-number"),
        pytest.param({"prompt": "x", "params": {"size": "x" * 500}}, "...", id="long-shown"),
        pytest.param({"prompt": "x", "params": {"seed": 2**40}}, "seed", id="seed-too-big"),
        pytest.param({"prompt": "x" * 2001}, "prompt", id="prompt-too-long"),
    ],
)
def test_bad_room_documents_name_the_setting(document: dict[str, Any], needle: str) -> None:
    from hub.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as raised:
        request_from(document)
    assert needle in raised.value.message
    assert raised.value.status == 422
    assert len(raised.value.message) < 400  # user values are shortened, never echoed whole


@pytest.mark.parametrize("strength", ["nan", "inf", "strong", [0.5], True])
def test_a_bad_room_strength_is_refused_for_img2img(strength: Any) -> None:
    from hub.errors import ValidationFailed

    document = {"prompt": "x", "params": {"strength": strength}}
    with pytest.raises(ValidationFailed, match="strength"):
        request_from(document, source_image_key="uploads/1/a.png")


def test_a_document_without_params_uses_defaults() -> None:
    request = request_from({"prompt": "x", "params": "not a map"})
    assert (request.model, request.count, request.width, request.steps) == (
        "offline-sketch",
        1,
        None,
        None,
    )


def test_no_model_for_your_account_is_422() -> None:
    from hub.errors import ValidationFailed
    from hub.generation.room_request import room_job_request
    from hub.generation.schemas import RoomJobIn

    with pytest.raises(ValidationFailed, match="No model"):
        room_job_request({"prompt": "x"}, RoomJobIn(), room_id="studio", default_model=None)
