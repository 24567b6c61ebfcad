"""The provider runner with the real offline engine and local storage, under a real worker."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from hub.db import Database
from hub.generation.component import build_runner
from hub.generation.providers.base import GeneratedImage, Provider
from hub.generation.providers.offline import OfflineConfig, OfflineProvider
from hub.generation.providers.registry import OFFLINE_PRESETS, ModelPreset, ProviderRegistry
from hub.generation.queue import ImageRef, JobRef
from hub.generation.runner_api import JobRunner, JobSpec
from hub.generation.runners import provider_runner
from hub.generation.worker import Worker
from hub.storage import service as storage_service
from hub.storage.backends import LocalStorage
from tests.helpers import eventually
from tests.hub.credits.helpers import make_user, wallet
from tests.hub.generation.helpers import EventLog, load, submit


def _runner(
    tmp_path: Path, step_delay: float = 0.0
) -> tuple[JobRunner, LocalStorage, OfflineProvider]:
    provider = OfflineProvider(OfflineConfig(step_delay=step_delay))
    storage = LocalStorage(tmp_path / "media")
    presets = {p.id: p for p in OFFLINE_PRESETS}

    def resolve(model: str) -> tuple[ModelPreset, Provider]:
        return presets[model], provider

    async def store(job: JobSpec, index: int, image: GeneratedImage) -> ImageRef:
        key = f"generations/{job.job_id}/{index}.png"
        await storage.put(key, image.data, image.mime)
        return ImageRef(key=key, width=image.width, height=image.height, seed=image.seed)

    return provider_runner(resolve, store, storage.get), storage, provider


async def test_offline_job_produces_stored_images_and_previews(
    db: Database, tmp_path: Path
) -> None:
    alice = await make_user(db, "alice")
    (job,) = await submit(db, alice, width=128, height=96, steps=3, seed=11, count=2)
    runner, storage, _provider = _runner(tmp_path)
    events = EventLog()
    previews: list[bytes] = []

    async def preview_sink(ref: JobRef, data: bytes) -> str:
        previews.append(data)
        return f"/previews/{ref.job_id}/{len(previews)}.jpg"

    worker = Worker(db, db.settings, runner, events, preview_sink=preview_sink)
    await worker.start()
    try:
        await eventually(lambda: "job.succeeded" in events.kinds(job.job_id), 20)
    finally:
        await worker.stop()
    ((_, done),) = events.of("job.succeeded")
    keys = [image["key"] for image in done["images"]]
    assert keys == [f"generations/{job.job_id}/0.png", f"generations/{job.job_id}/1.png"]
    assert [image["seed"] for image in done["images"]] == [11, 12]
    for key in keys:
        with Image.open(io.BytesIO(await storage.get(key))) as picture:
            assert picture.size == (128, 96)
    progress = [data for _, data in events.of("job.progress")]
    assert progress[-1]["step"] == progress[-1]["total"] == 6  # 3 steps x 2 images
    assert previews
    assert all(p["preview_url"].startswith("/previews/") for p in progress if "preview_url" in p)
    assert (await load(db, job.job_id)).state == "succeeded"
    assert await wallet(db, alice.user_id) == (98, 0)


async def test_cancel_reaches_the_provider_mid_run(db: Database, tmp_path: Path) -> None:
    alice = await make_user(db, "alice")
    (job,) = await submit(db, alice, steps=50, model="offline-paint")
    runner, storage, _provider = _runner(tmp_path, step_delay=0.05)
    events = EventLog()
    worker = Worker(db, db.settings, runner, events)
    await worker.start()
    try:
        await eventually(lambda: len(events.of("job.progress")) >= 2, 10)
        from hub.generation import service

        async with db.unit_of_work() as session:
            await service.cancel_job(session, alice, job.job_id)
        await eventually(lambda: "job.canceled" in events.kinds(job.job_id), 5)
    finally:
        await worker.stop()
    assert [key async for key in storage.list_keys("generations/")] == []
    assert await wallet(db, alice.user_id) == (100, 0)


async def test_missing_source_image_fails_without_retry(db: Database, tmp_path: Path) -> None:
    alice = await make_user(db, "alice")
    (job,) = await submit(db, alice, kind="img2img", source_image_key="missing/file.png")
    runner, _storage, _provider = _runner(tmp_path)
    worker = Worker(db, db.settings, runner, None)
    await worker.start()
    try:
        await eventually(lambda: _state(db, job.job_id, "failed"), 10)
    finally:
        await worker.stop()
    failed = await load(db, job.job_id)
    assert failed.attempts == 1
    assert (failed.error_code, failed.error_message) == (
        "source_missing",
        "The source image is missing.",
    )
    assert await wallet(db, alice.user_id) == (100, 0)


async def _state(db: Database, job_id: str, state: str) -> bool:
    return (await load(db, job_id)).state == state


async def test_the_worker_runner_stores_images_in_the_library(db: Database, tmp_path: Path) -> None:
    # The runner both processes wire (component.build_runner): registry from Settings, images
    # saved through the storage service, so they land in the owner's library.
    settings = db.settings.model_copy(update={"offline_step_delay": 0})
    registry = ProviderRegistry.from_settings(settings)
    storage = LocalStorage(tmp_path / "media")
    alice = await make_user(db, "alice")
    (job,) = await submit(db, alice, width=64, height=64, steps=2)
    worker = Worker(db, settings, build_runner(db, storage, registry), None)
    await worker.start()
    try:
        await eventually(lambda: _state(db, job.job_id, "succeeded"), 20)
    finally:
        await worker.stop()
        await registry.aclose()
        await storage.aclose()
    result = (await load(db, job.job_id)).result
    assert result is not None
    (image,) = result["images"]
    assert image["key"].startswith(f"images/{job.job_id}/0/")
    async with db.unit_of_work() as session:
        stored = await storage_service.get_image(session, image["image_id"])
    assert stored is not None
    assert stored.owner_id == alice.user_id
    assert (tmp_path / "media" / image["key"]).is_file()


async def test_a_store_outage_while_saving_is_retried(db: Database, tmp_path: Path) -> None:
    """S3 or the database down while the images are saved fails the attempt as retryable (as
    for source images), not as an internal error: the next attempt stores them."""
    from hub.storage.errors import StorageUnavailable

    alice = await make_user(db, "alice")
    (job,) = await submit(db, alice, steps=2)
    _, storage, provider = _runner(tmp_path)
    presets = {p.id: p for p in OFFLINE_PRESETS}
    calls: list[int] = []

    async def store(spec: JobSpec, index: int, image: GeneratedImage) -> ImageRef:
        calls.append(index)
        if len(calls) == 1:
            raise StorageUnavailable()
        await storage.put(f"g/{spec.job_id}.png", image.data, image.mime)
        return ImageRef(key=f"g/{spec.job_id}.png")

    flaky = provider_runner(lambda model: (presets[model], provider), store)
    worker = Worker(db, db.settings, flaky, None)
    await worker.start()
    try:
        await eventually(lambda: _state(db, job.job_id, "succeeded"), 10)
    finally:
        await worker.stop()
    done = await load(db, job.job_id)
    assert (done.attempts, len(calls)) == (2, 2)
    assert await wallet(db, alice.user_id) == (100 - done.cost, 0)
