"""ComfyUI jobs through the whole hub: Settings read from the environment, a real ``hub serve``
(uvicorn, embedded worker) and the fake ComfyUI server on loopback; jobs are submitted and read
over HTTP and followed on the personal event stream."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from hub.settings import Settings
from tests.conftest import LiveServer, _truncate_postgres
from tests.helpers import eventually
from tests.hub.collab.conftest import TestUser, create_test_user
from tests.hub.collab.helpers import http, hub_ctx, serve_hub
from tests.hub.credits.helpers import FAST

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
    try:
        async with serve_hub(configured) as live:
            yield live
    finally:
        if not settings.is_sqlite:
            await _truncate_postgres(settings)


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
