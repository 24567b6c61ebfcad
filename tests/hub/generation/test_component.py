"""The generation component and the job event sink: lifespan wiring, previews, the personal
streams (``GET /api/v1/jobs/events``), the bus between processes, which room a job may reach,
and what happens when a part of the path fails."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from PIL import Image
from starlette.applications import Starlette

from hub.collab.access import room_visibility
from hub.collab.component import get_rooms
from hub.context import HubContext
from hub.generation.component import GenerationComponent
from hub.generation.errors import TooManyJobStreams
from hub.generation.events import (
    JobEvents,
    JobRoute,
    JobStream,
    PersonalStreams,
    preview_data_url,
    shape_event,
    shrink_preview,
    sse_body,
)
from hub.generation.queue import JobRef
from hub.settings import Settings
from rooms.bus import BusUnavailable, MemoryBus, MemoryHub
from tests.helpers import eventually
from tests.hub.collab.conftest import TestUser, create_room, create_test_user, room_with_roles
from tests.hub.collab.helpers import http, hub_ctx
from tests.hub.credits.helpers import FAST
from tests.live import LiveServer

API = "/api/v1"


def ref(job_id: str = "j1", *, owner: int = 1, payer: int = 1, room: str | None = None) -> JobRef:
    return JobRef(
        job_id=job_id,
        user_id=payer,
        owner_id=owner,
        room_id=room,
        batch_id=None,
        model="offline-sketch",
        kind="text2img",
    )


def picture(fmt: str, size: tuple[int, int], mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, 0 if mode == "1" else (10, 120, 200)).save(buffer, fmt)
    return buffer.getvalue()


# --- lifespan ------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def run_app(settings: Settings) -> AsyncIterator[HubContext]:
    from hub.app import create_app

    application: Starlette = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application.state.ctx


def generation_of(ctx: HubContext) -> GenerationComponent:
    assert ctx.generation is not None
    return ctx.generation


async def test_startup_starts_generation_and_shutdown_stops_it(settings: Settings) -> None:
    async with run_app(settings) as ctx:
        generation = generation_of(ctx)
        assert set(generation.presets) == {"offline-sketch", "offline-paint", "offline-detail"}
        assert isinstance(generation.events, JobEvents)
        assert generation.worker is None  # embedded_worker is off in the suite
        saved = ctx
    assert saved.generation is None


async def test_the_embedded_worker_runs_with_the_web_process(settings: Settings) -> None:
    async with run_app(settings.model_copy(update={"embedded_worker": True, **FAST})) as ctx:
        worker = generation_of(ctx).worker
        assert worker is not None
        assert worker.started
    assert not worker.started


async def test_the_routes_wake_the_embedded_worker(settings: Settings) -> None:
    from hub.app import create_app

    # Polls 30 s apart: the job can only start this soon if the route nudged the worker.
    slow = {"embedded_worker": True, **FAST, "job_poll_interval": 30.0}
    application: Starlette = create_app(settings.model_copy(update=slow))
    async with application.router.lifespan_context(application):
        ctx: HubContext = application.state.ctx
        user = await create_test_user(ctx, "nia", "Nia")
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as client:
            await asyncio.sleep(0.05)  # the worker's first loop is over: it waits 30 s now
            body = {"kind": "text2img", "model": "offline-sketch", "prompt": "a kite", "steps": 1}
            created = await client.post(f"{API}/jobs", json=body, headers=user.headers)
            assert created.status_code == 201, created.text
            job_url = f"{API}/jobs/{created.json()['jobs'][0]['job_id']}"

            async def finished() -> bool:
                job = (await client.get(job_url, headers=user.headers)).json()
                return bool(job["state"] == "succeeded")

            await eventually(finished, 5)


async def test_models_come_from_the_registry(client: httpx.AsyncClient, ctx: HubContext) -> None:
    user = await create_test_user(ctx, "mona", "Mona")
    models = (await client.get(f"{API}/models", headers=user.headers)).json()["items"]
    assert [m["id"] for m in models] == ["offline-sketch", "offline-paint", "offline-detail"]


# --- previews ------------------------------------------------------------------------------------


def test_a_large_preview_becomes_a_small_jpeg() -> None:
    small = shrink_preview(picture("PNG", (512, 256)))
    assert small is not None
    image = Image.open(io.BytesIO(small))
    assert (image.format, image.size) == ("JPEG", (64, 32))


def test_a_small_jpeg_preview_passes_unchanged() -> None:
    data = picture("JPEG", (64, 48))
    assert shrink_preview(data) is data


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"not an image at all", id="garbage"),
        pytest.param(picture("GIF", (32, 32)), id="gif-not-allowed"),
        pytest.param(picture("PNG", (32, 32))[:40], id="truncated"),
        pytest.param(picture("PNG", (5000, 4000), mode="1"), id="too-many-pixels"),
        pytest.param(picture("PNG", (10000, 10000), mode="1"), id="decompression-bomb"),
        pytest.param(b"\x89PNG" + b"\x00" * (5 * 1024 * 1024), id="too-many-bytes"),
    ],
)
def test_a_bad_preview_is_dropped(data: bytes) -> None:
    assert shrink_preview(data) is None


async def test_the_preview_sink_answers_data_urls() -> None:
    url = await preview_data_url(ref(), picture("WEBP", (300, 300)))
    assert url is not None
    assert url.startswith("data:image/jpeg;base64,")
    image = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert image.size == (64, 64)
    assert await preview_data_url(ref(), b"nope") is None


# --- shaping -------------------------------------------------------------------------------------


def test_events_carry_only_their_documented_fields() -> None:
    job = ref(room="studio")
    image = {"key": "images/x.png", "image_id": "i1", "url": "/m/x.png", "thumb_url": "/m/t.webp"}
    succeeded = shape_event(job, "job.succeeded", {"images": [image]}, owner_name="Ann")
    assert succeeded == {
        "job_id": "j1",
        "owner_id": 1,
        "owner_name": "Ann",
        "model": "offline-sketch",
        "batch_id": None,
        "images": [
            {
                "image_id": "i1",
                "url": "/m/x.png",
                "thumb_url": "/m/t.webp",
                "width": None,
                "height": None,
            }
        ],
    }
    progress = shape_event(
        job,
        "job.progress",
        {"step": 2, "total": 4, "eta_s": 1.5, "preview_url": "data:x"},
        owner_name=None,
    )
    assert {k: progress[k] for k in ("step", "total", "eta_s", "preview")} == {
        "step": 2,
        "total": 4,
        "eta_s": 1.5,
        "preview": "data:x",
    }
    assert "preview_url" not in progress
    assert (
        shape_event(job, "job.progress", {"step": 1, "total": 1}, owner_name=None)["preview"]
        is None
    )
    failed = shape_event(
        job,
        "job.failed",
        {"reason": "blocked", "code": "safety_blocked", "trace": "x"},
        owner_name=None,
    )
    assert (failed["reason"], failed["code"], "trace" in failed) == (
        "blocked",
        "safety_blocked",
        False,
    )
    assert shape_event(job, "job.canceled", {"anything": 1}, owner_name=None).keys() == {
        "job_id",
        "owner_id",
        "owner_name",
        "model",
        "batch_id",
    }


# --- personal streams ----------------------------------------------------------------------------


async def test_streams_per_user_are_capped() -> None:
    streams = PersonalStreams(per_user=2)
    first, _second = streams.open(7), streams.open(7)
    with pytest.raises(TooManyJobStreams) as raised:
        streams.open(7)
    assert raised.value.status == 429
    streams.open(8)  # another user is not affected
    streams.release(first)
    streams.open(7)
    assert streams.count(7) == 2


async def test_a_full_stream_drops_ticks_but_not_results() -> None:
    streams = PersonalStreams(queue_size=3)
    stream = streams.open(1)
    for n in range(3):
        streams.deliver([1], f"tick {n}", droppable=True)
    streams.deliver([1], "tick 3", droppable=True)  # dropped: the queue is full
    assert not stream.closed
    streams.deliver([1], "succeeded", droppable=False)  # cannot be dropped: the stream ends
    assert stream.closed
    assert stream.lagged
    body = [chunk async for chunk in sse_body(streams, stream, keepalive=0.01)]
    text = b"".join(body).decode()
    assert text.startswith("retry: 3000\n\n")
    assert [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: {")] == [
        {"type": "hello", "user_id": 1},
        {"type": "resync"},
    ]
    assert "data: tick 0\n\n" in text
    assert "tick 3" not in text
    assert streams.count(1) == 0  # released when the body ended


async def test_a_quiet_stream_sends_keepalives_and_ends_at_shutdown() -> None:
    events = JobEvents(MemoryBus(), channel="jobs", lookup=no_room, emit_room=None)
    await events.start()
    stream = events.streams.open(3)
    chunks: list[bytes] = []

    async def read() -> None:
        async for chunk in sse_body(events.streams, stream, keepalive=0.02):
            chunks.append(chunk)

    reader = asyncio.create_task(read())
    await eventually(lambda: b": keep-alive\n\n" in chunks, message="keep-alive")
    await events.stop()
    await asyncio.wait_for(reader, 2)
    assert events.streams.count(3) == 0


async def no_room(job: JobRef) -> JobRoute:
    return JobRoute(room=None, owner_name="Nobody")


# --- the sink across processes -------------------------------------------------------------------


async def test_events_reach_personal_streams_in_every_process() -> None:
    hub = MemoryHub()
    web_bus, worker_bus = MemoryBus(hub), MemoryBus(hub)
    await web_bus.start()
    await worker_bus.start()
    web = JobEvents(web_bus, channel="hub:jobs:events", lookup=no_room, emit_room=None)
    worker = JobEvents(worker_bus, channel="hub:jobs:events", lookup=no_room, emit_room=None)
    await web.start()
    owner_stream, payer_stream = web.streams.open(1), web.streams.open(2)
    stranger = web.streams.open(3)
    local = worker.streams.open(1)  # a stream in the sending process itself
    await worker(ref(owner=1, payer=2), "job.started", {"attempt": 1, "internal": "x"})
    for stream in (owner_stream, payer_stream, local):
        (message,) = await take(stream, 1)
        event = json.loads(message)
        assert (event["type"], event["job_id"], event["room_id"]) == ("job.started", "j1", None)
        assert event["data"]["attempt"] == 1
        assert "internal" not in event["data"]
        assert event["data"]["owner_name"] == "Nobody"
    assert await take(stranger, 1, timeout=0.05) == []
    # Garbage on the channel is dropped, and the listener keeps working.
    for payload in (b"\xff\xfe", b"[]", b'{"users": "1", "event": {}}', b'{"users": [true]}'):
        await worker_bus.publish("hub:jobs:events", payload)
    await worker(ref(owner=1, payer=1), "job.canceled", {})
    (message,) = await take(owner_stream, 1)
    assert json.loads(message)["type"] == "job.canceled"
    await web.stop()
    await worker.stop()
    await web_bus.stop()
    await worker_bus.stop()


async def take(stream: JobStream, count: int, timeout: float = 2.0) -> list[str]:
    got: list[str] = []

    async def collect() -> None:
        async for message in stream.messages(0.01):
            if message is not None:
                got.append(message)
                if len(got) >= count:
                    return

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(collect(), timeout)
    return got


class BrokenBus(MemoryBus):
    async def publish(self, channel: str, payload: bytes) -> None:
        raise BusUnavailable("redis is down")


async def test_a_failing_room_lookup_or_bus_still_reaches_local_streams() -> None:
    calls: list[str] = []

    async def flaky_lookup(job: JobRef) -> JobRoute:
        calls.append(job.job_id)
        if len(calls) == 1:
            raise ConnectionError("database is down")
        return JobRoute(room="studio", owner_name="Ann")

    async def broken_room(slug: str, kind: str, data: Any, persist: bool) -> None:
        raise ValueError("room is gone")

    events = JobEvents(BrokenBus(), channel="c", lookup=flaky_lookup, emit_room=broken_room)
    stream = events.streams.open(1)
    await events(ref(), "job.started", {"attempt": 1})
    await events(ref(), "job.progress", {"step": 1, "total": 2})
    await events(ref(), "job.progress", {"step": 2, "total": 2})
    messages = [json.loads(m) for m in await take(stream, 3)]
    assert [m["type"] for m in messages] == ["job.started", "job.progress", "job.progress"]
    assert [m["data"]["owner_name"] for m in messages] == [None, "Ann", "Ann"]
    assert calls == ["j1", "j1"]  # the failed lookup was not cached; the good one was


# --- which room a job reaches --------------------------------------------------------------------


async def test_job_events_reach_only_rooms_their_owner_may_generate_in(
    client: httpx.AsyncClient, ctx: HubContext
) -> None:
    slug, _owner, editor, viewer = await room_with_roles(client, ctx)
    store = get_rooms(ctx).store

    async def submit(user: TestUser, room_id: str, status: int = 201) -> str:
        body = {"model": "offline-sketch", "prompt": "a kite", "room_id": room_id}
        response = await client.post(f"{API}/jobs", json=body, headers=user.headers)
        assert response.status_code == status, response.text
        job_id: str = response.json()["jobs"][0]["job_id"] if status == 201 else ""
        return job_id

    allowed = await submit(editor, slug)
    refused = await submit(viewer, slug)  # a viewer may not put events into the room
    await submit(viewer, "no-such-room", 404)
    await submit(viewer, "not a room id!", 404)
    events = await store.events_since(slug, 0, limit=50)
    assert events is not None
    assert [(e.type, e.data["job_id"]) for e in events] == [("job.queued", allowed)]
    assert events[0].data["owner_name"] == "Edward"
    assert await store.last_seq("no-such-room") == 0  # nothing was written for it
    assert refused not in {e.data["job_id"] for e in events}


async def test_room_visibility_for_the_queue_view(
    client: httpx.AsyncClient, ctx: HubContext
) -> None:
    owner = await create_test_user(ctx, "olivia", "Olivia")
    outsider = await create_test_user(ctx, "oscar", "Oscar")
    private = (await create_room(client, owner))["slug"]
    public = (await create_room(client, owner, visibility="public"))["slug"]
    as_owner, as_outsider = room_visibility(actor_of(owner)), room_visibility(actor_of(outsider))
    async with ctx.db.unit_of_work() as session:
        assert await as_owner(session, private) is True
        assert await as_outsider(session, private) is False
        assert await as_outsider(session, public) is True  # anyone signed in may watch it
        assert await as_owner(session, "no-such-room") is False
        assert await as_owner(session, "x" * 500) is False


def actor_of(user: TestUser) -> Any:
    from hub.accounts.deps import Actor
    from hub.accounts.roles import UserRole

    return Actor(
        user_id=user.user_id,
        username=user.username,
        display_name=user.display_name,
        role=UserRole.USER,
        auth="api_token",
    )


# --- GET /api/v1/jobs/events ---------------------------------------------------------------------


async def test_the_personal_stream_needs_sign_in_and_is_capped(
    client: httpx.AsyncClient, ctx: HubContext
) -> None:
    anonymous = await client.get(f"{API}/jobs/events")
    assert anonymous.status_code == 401
    user = await create_test_user(ctx, "mona", "Mona")
    events = generation_of(ctx).events
    held = [events.streams.open(user.user_id) for _ in range(events.streams.per_user)]
    capped = await client.get(f"{API}/jobs/events", headers=user.headers)
    assert capped.status_code == 429
    assert capped.json()["error"]["code"] == "rate_limited"
    for stream in held:
        events.streams.release(stream)
    generation, ctx.generation = ctx.generation, None
    try:
        missing = await client.get(f"{API}/jobs/events", headers=user.headers)
        assert missing.status_code == 503
    finally:
        ctx.generation = generation


async def test_the_personal_stream_follows_a_job_outside_rooms(live: LiveServer) -> None:
    user = await create_test_user(hub_ctx(live), f"mona{uuid.uuid4().hex[:6]}", "Mona")
    async with (
        http(live) as api,
        httpx.AsyncClient(base_url=live.http_url, timeout=httpx.Timeout(10, read=None)) as sse,
        sse.stream("GET", f"{API}/jobs/events", headers=user.headers) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        lines = response.aiter_lines()
        assert await anext(lines) == "retry: 3000"
        body = {
            "model": "offline-sketch",
            "prompt": "a kite",
            "steps": 3,
            "width": 64,
            "height": 64,
        }
        submitted = await api.post(f"{API}/jobs", json=body, headers=user.headers)
        assert submitted.status_code == 201, submitted.text
        job_id = submitted.json()["jobs"][0]["job_id"]
        seen: list[dict[str, Any]] = []

        async def until_done() -> None:
            async for line in lines:
                if line.startswith("data: "):
                    seen.append(json.loads(line[6:]))
                    if seen[-1]["type"] == "job.succeeded":
                        return

        await asyncio.wait_for(until_done(), 20)
    assert seen[0] == {"type": "hello", "user_id": user.user_id}
    mine = [e for e in seen[1:] if e["job_id"] == job_id]
    kinds = [e["type"] for e in mine]
    assert kinds[0] in ("job.queued", "job.started")
    assert [e["data"]["step"] for e in mine if e["type"] == "job.progress"] == [1, 2, 3]
    assert kinds[-1] == "job.succeeded"
    (image,) = mine[-1]["data"]["images"]
    assert image["url"]
    assert image["thumb_url"]
    assert all(e["room_id"] is None for e in mine)
    # The stream was released when the client went away.
    events = generation_of(hub_ctx(live)).events
    await eventually(lambda: events.streams.count(user.user_id) == 0, message="released")


# --- failure at startup, orphans, hub worker in this process ------------------------------------


async def test_a_failed_start_leaves_nothing_behind(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hub.generation import component
    from hub.generation.worker import Worker

    stopped: list[GenerationComponent] = []
    real_stop = component.GenerationComponent.stop

    async def refuse(self: object) -> None:
        raise RuntimeError("the worker cannot start")

    async def stop(self: GenerationComponent) -> None:
        stopped.append(self)
        await real_stop(self)

    monkeypatch.setattr(Worker, "start", refuse)
    monkeypatch.setattr(component.GenerationComponent, "stop", stop)
    embedded = settings.model_copy(update={"embedded_worker": True})
    with pytest.raises(RuntimeError, match="cannot start"):
        async with run_app(embedded):
            pass  # pragma: no cover - the start fails
    # The half-built component closed its sink and registry; nothing else was left running.
    (half_built,) = stopped
    assert half_built.worker is not None
    assert not half_built.worker.started


async def test_orphaned_images_are_deleted(client: httpx.AsyncClient, ctx: HubContext) -> None:
    from hub.generation.component import orphan_sink
    from hub.storage import service as storage_service

    user = await create_test_user(ctx, "olga", "Olga")
    storage = ctx.storage
    async with ctx.db.unit_of_work() as session:
        view = await storage_service.save_generated_image(
            session,
            storage,
            owner_id=user.user_id,
            job_id="0193a6f0-0000-7000-8000-000000000001",
            room_id=None,
            index=0,
            data=picture("PNG", (64, 64)),
            mime="image/png",
            width=64,
            height=64,
            seed=1,
            model="offline-sketch",
            prompt="a fox",
            negative_prompt="",
            params={},
        )
    assert await storage.exists(view.key)
    await orphan_sink(ctx.db, storage)([view.key])
    assert not await storage.exists(view.key)
    async with ctx.db.unit_of_work() as session:
        assert await storage_service.get_image(session, view.image_id) is None
    library = await client.get(f"{API}/images", headers=user.headers)
    assert library.json()["items"] == []


async def test_hub_worker_runs_room_jobs_with_the_same_wiring(
    client: httpx.AsyncClient, ctx: HubContext, settings: Settings
) -> None:
    """``run_worker`` in this process: the jobs' room events go through its own RoomServer into
    the store (its bus is a private in-memory one here, so the store is where they show)."""
    import os
    import signal

    from hub.compose import run_worker

    owner = await create_test_user(ctx, "olivia", "Olivia")
    slug = (await create_room(client, owner))["slug"]
    body = {"prompt": "一只狐狸", "width": 64, "height": 64, "steps": 2, "count": 2}
    response = await client.post(f"{API}/rooms/{slug}/jobs", json=body, headers=owner.headers)
    assert response.status_code == 201, response.text
    job_id = response.json()["jobs"][0]["job_id"]
    worker_settings = settings.model_copy(update={**FAST, "offline_step_delay": 0.0})
    worker = asyncio.create_task(run_worker(worker_settings))

    async def finished() -> bool:
        job = await client.get(f"{API}/jobs/{job_id}", headers=owner.headers)
        return bool(job.json()["state"] == "succeeded")

    try:
        await eventually(finished, timeout=20, message="hub worker finished the job")
    finally:
        if not worker.done():
            # The worker's SIGTERM handler is installed before it claims anything.
            os.kill(os.getpid(), signal.SIGTERM)
        assert await asyncio.wait_for(worker, 30) == 0
    events = await get_rooms(ctx).store.events_since(slug, 0, limit=50)
    assert events is not None
    mine = [e for e in events if e.data.get("job_id") == job_id]
    assert [e.type for e in mine] == ["job.queued", "job.started", "job.succeeded"]
    images = mine[-1].data["images"]
    assert len(images) == 2
    library = (await client.get(f"{API}/images", headers=owner.headers)).json()["items"]
    assert {i["image_id"] for i in library} == {i["image_id"] for i in images}
    assert {i["room_id"] for i in library} == {slug}
