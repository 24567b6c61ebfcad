"""ComfyUI jobs through the whole hub: Settings read from the environment, a real ``hub serve``
(uvicorn, embedded worker) and the fake ComfyUI server on loopback; jobs are submitted and read
over HTTP and followed on the personal event stream."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from hub.settings import Settings
from tests.helpers import BOTH_DATABASES, eventually
from tests.hub.collab.conftest import TestUser, create_test_user
from tests.hub.collab.helpers import http, hub_ctx
from tests.hub.credits.helpers import FAST
from tests.live import LiveServer, serve_test_hub

from .fake_comfyui import FakeComfyUI, serve

API = "/api/v1"

# What the test fixture decides about the process (database, files, secrets); every provider
# setting comes from the environment, as in production.
PROCESS_FIELDS = {
    "environment",
    "data_dir",
    "media_dir",
    "public_url",
    "database_url",
    "redis_url",
    "secret_key",
    "auto_migrate",
    "log_json",
    "log_level",
}


@contextlib.asynccontextmanager
async def comfy_hub(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, fake: FakeComfyUI, **env: str
) -> AsyncIterator[LiveServer]:
    monkeypatch.setenv("HUB_COMFYUI_URL", fake.url)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    configured = Settings(
        **settings.model_dump(include=PROCESS_FIELDS), **FAST, embedded_worker=True
    )
    async with serve_test_hub(configured) as live:  # the same database as ``settings``
        yield live


async def submit(api: httpx.AsyncClient, user: TestUser, **fields: Any) -> str:
    body = {"model": "comfyui", "prompt": "a lighthouse", "width": 64, "height": 64, **fields}
    response = await api.post(f"{API}/jobs", json=body, headers=user.headers)
    assert response.status_code == 201, response.text
    job_id: str = response.json()["jobs"][0]["job_id"]
    return job_id


async def finished(api: httpx.AsyncClient, user: TestUser, job_id: str) -> dict[str, Any]:
    job: dict[str, Any] = {}

    async def settled() -> bool:
        nonlocal job
        response = await api.get(f"{API}/jobs/{job_id}", headers=user.headers)
        job = response.json()
        return job["state"] in ("succeeded", "failed", "canceled")

    await eventually(settled, timeout=15, message="job settled")
    return job


async def new_user(live: LiveServer) -> TestUser:
    return await create_test_user(hub_ctx(live), f"ada{uuid.uuid4().hex[:6]}", "Ada")


@pytest.fixture
async def fake() -> AsyncIterator[FakeComfyUI]:
    async with serve(FakeComfyUI()) as server:
        yield server


async def test_checkpoint_from_the_environment_reaches_comfyui(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, fake: FakeComfyUI
) -> None:
    fake.checkpoints = ("foo.safetensors",)  # a server without the default checkpoint
    async with (
        comfy_hub(settings, monkeypatch, fake, HUB_COMFYUI_CHECKPOINT="foo.safetensors") as live,
        http(live) as api,
    ):
        user = await new_user(live)
        job = await finished(api, user, await submit(api, user, steps=2))
    assert job["state"] == "succeeded", job["error"]
    (posted,) = fake.called("POST", "/prompt")
    assert posted["prompt"]["4"]["inputs"]["ckpt_name"] == "foo.safetensors"


@BOTH_DATABASES  # the reason is stored in the job row
async def test_a_checkpoint_comfyui_lacks_fails_the_job_with_comfyuis_words(
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    fake: FakeComfyUI,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake.checkpoints = ("sd15.safetensors", "sdxl.safetensors")
    caplog.set_level(logging.WARNING, logger="hub")
    async with (
        comfy_hub(settings, monkeypatch, fake, HUB_COMFYUI_CHECKPOINT="gone.safetensors") as live,
        http(live) as api,
    ):
        user = await new_user(live)
        job = await finished(api, user, await submit(api, user, steps=2))
    assert job["state"] == "failed"
    assert job["error"]["code"] == "rejected"
    words = "ckpt_name: 'gone.safetensors' not in ['sd15.safetensors', 'sdxl.safetensors']"
    assert words in job["error"]["message"]
    assert "CheckpointLoaderSimple" in job["error"]["message"]
    logged = [r for r in caplog.records if words in r.getMessage()]
    assert logged, [r.getMessage() for r in caplog.records]
    assert logged[0].levelno == logging.WARNING
    assert getattr(logged[0], "job_id", None) == job["job_id"]


async def test_a_workflow_that_fails_on_comfyui_fails_the_job_with_comfyuis_words(
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    fake: FakeComfyUI,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="hub")
    async with (
        comfy_hub(settings, monkeypatch, fake, HUB_COMFYUI_CHECKPOINT="sd15.safetensors") as live,
        http(live) as api,
    ):
        user = await new_user(live)
        job = await finished(api, user, await submit(api, user, prompt="[error] a barn", steps=3))
    assert job["state"] == "failed"
    assert job["error"]["code"] == "generation_failed"
    words = "RuntimeError: mat1 and mat2 shapes cannot be multiplied"
    assert words in job["error"]["message"]
    assert "KSampler" in job["error"]["message"]
    assert any(words in r.getMessage() for r in caplog.records)


async def test_one_progress_event_per_step_with_comfyui_previews(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, fake: FakeComfyUI
) -> None:
    steps = 5
    async with (
        comfy_hub(settings, monkeypatch, fake, HUB_COMFYUI_CHECKPOINT="sd15.safetensors") as live,
        http(live) as api,
    ):
        user = await new_user(live)
        async with (
            httpx.AsyncClient(base_url=live.http_url, timeout=httpx.Timeout(10, read=None)) as sse,
            sse.stream("GET", f"{API}/jobs/events", headers=user.headers) as response,
        ):
            assert response.status_code == 200
            lines = response.aiter_lines()
            assert await anext(lines) == "retry: 3000"
            job_id = await submit(api, user, steps=steps)
            seen: list[dict[str, Any]] = []

            async def until_done() -> None:
                async for line in lines:
                    if line.startswith("data: "):
                        event = json.loads(line[6:])
                        if event.get("job_id") == job_id:
                            seen.append(event)
                            if event["type"] in ("job.succeeded", "job.failed"):
                                return

            await asyncio.wait_for(until_done(), 15)
    assert seen[-1]["type"] == "job.succeeded", seen[-1]
    progress = [e["data"] for e in seen if e["type"] == "job.progress"]
    assert [p["step"] for p in progress] == list(range(1, steps + 1))
    assert all(p["total"] == steps for p in progress)
    previews = [p["preview"] for p in progress]
    assert all(isinstance(p, str) and p.startswith("data:image/jpeg;base64,") for p in previews)
