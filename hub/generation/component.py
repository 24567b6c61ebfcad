"""Generation in a running process: the provider registry, the job event sink and, in embedded
mode, a worker inside the web process.

The composition root (:mod:`hub.compose`) builds both processes from the parts here:

* the web process starts a :class:`GenerationComponent` with :func:`start_generation` (after
  storage and rooms) and keeps it in ``ctx.generation``: the model presets of the registry built
  from settings, the :class:`~hub.generation.events.JobEvents` sink (room streams, personal
  streams, the bus) and the embedded worker, if any;
* ``hub worker`` opens the database, bus, storage and registry itself and runs
  :func:`run_separate_worker`: the same runner (provider + storage service) and the same sink,
  with a publish-only :class:`rooms.server.RoomServer` so that job events reach the rooms of
  every web process through the store and the bus.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from hub.context import HubContext
from hub.db import Database
from hub.generation.events import (
    JobEvents,
    RoomEmitter,
    database_route_lookup,
    preview_data_url,
)
from hub.generation.providers.base import GeneratedImage
from hub.generation.providers.registry import ModelPreset, ProviderRegistry
from hub.generation.queue import ImageRef, JobRef, QueueSignals
from hub.generation.runner_api import JobRunner, JobSpec
from hub.generation.runners import ImageStore, SourceLoader, provider_runner
from hub.generation.worker import (
    JobEventSink,
    OrphanSink,
    Worker,
    log_job_event,
    run_worker_process,
)
from hub.settings import Settings
from hub.storage.backends import Storage
from rooms.bus import Bus
from rooms.server import RoomServer

log = logging.getLogger(__name__)


def events_channel(settings: Settings) -> str:
    return f"{settings.redis_key_prefix}jobs:events"


@dataclass(frozen=True)
class JobWiring:
    """What a submission from another domain passes to the job service: the presets this
    process serves, the event sink and the embedded worker's wake-ups (None without them)."""

    presets: Mapping[str, ModelPreset] | None
    on_event: JobEventSink | None
    signals: QueueSignals | None


def job_wiring(ctx: HubContext) -> JobWiring:
    generation = ctx.generation
    if generation is None:
        return JobWiring(presets=None, on_event=None, signals=None)
    worker = generation.worker
    return JobWiring(
        presets=generation.presets,
        on_event=generation.events,
        signals=worker.signals if worker is not None else None,
    )


# --- the runner ----------------------------------------------------------------------------------


def storage_image_store(db: Database, storage: Storage) -> ImageStore:
    """Saves each generated image through the storage service (original, thumbnails and its
    row, in one unit of work) and hands the worker its reference."""
    from hub.storage import service as storage_service

    async def store(job: JobSpec, index: int, image: GeneratedImage) -> ImageRef:
        async with db.unit_of_work() as session:
            view = await storage_service.save_generated_image(
                session,
                storage,
                owner_id=job.owner_id,
                job_id=job.job_id,
                room_id=job.room_id,
                index=index,
                data=image.data,
                mime=image.mime,
                width=image.width,
                height=image.height,
                seed=image.seed,
                model=job.model,
                prompt=job.prompt,
                negative_prompt=job.negative_prompt,
                params=dict(job.params),
            )
        return ImageRef(
            key=view.key,
            image_id=view.image_id,
            url=view.url,
            thumb_url=view.thumb_url,
            width=view.width,
            height=view.height,
            seed=image.seed,
            mime=image.mime,
        )

    return store


def storage_source_loader(db: Database, storage: Storage) -> SourceLoader:
    """img2img sources: the bytes of an upload or image, by key or image id."""
    from hub.storage import service as storage_service

    async def load(key: str) -> bytes:
        async with db.unit_of_work() as session:
            return await storage_service.load_image_bytes(session, storage, key)

    return load


def build_runner(db: Database, storage: Storage, registry: ProviderRegistry) -> JobRunner:
    return provider_runner(
        registry.resolve, storage_image_store(db, storage), storage_source_loader(db, storage)
    )


def orphan_sink(db: Database, storage: Storage) -> OrphanSink:
    """Deletes the images of jobs that did not keep them (lease lost, purged failures)."""
    from hub.storage import cleanup as storage_cleanup

    async def drop(keys: list[str]) -> None:
        async with db.unit_of_work() as session:
            await storage_cleanup.delete_images_by_key(session, storage, keys)

    return drop


def media_cleanup(
    db: Database, storage: Storage, settings: Settings
) -> Callable[[], Awaitable[object]]:
    """The worker's periodic sweep of media files no image row keeps (storage decides which)."""
    from datetime import timedelta

    from hub.storage import cleanup as storage_cleanup

    async def sweep() -> object:
        grace = timedelta(seconds=settings.media_orphan_grace_seconds)
        return await storage_cleanup.cleanup_orphans(db, storage, older_than=grace)

    return sweep


def provider_lookup(registry: ProviderRegistry) -> Callable[[str], str]:
    """Model id -> provider name (the job-duration metric's label); unknown models: "unknown"."""
    providers = {preset.id: preset.provider for preset in registry.presets}
    return lambda model: providers.get(model, "unknown")


# --- emitters ------------------------------------------------------------------------------------


def _rooms_emitter(ctx: HubContext) -> RoomEmitter:
    from hub.collab.component import emit_room_event

    async def emit(slug: str, kind: str, data: Mapping[str, Any], persist: bool) -> Any:
        return await emit_room_event(ctx, slug, kind, data, persist=persist)

    return emit


def _logged(events: JobEventSink) -> JobEventSink:
    async def sink(job: JobRef, kind: str, data: dict[str, Any]) -> None:
        await log_job_event(job, kind, data)
        await events(job, kind, data)

    return sink


# --- the web process -----------------------------------------------------------------------------


@dataclass
class GenerationComponent:
    registry: ProviderRegistry
    events: JobEvents
    # By id: the presets of ``registry`` (the routes read them; tests swap in their own).
    presets: Mapping[str, ModelPreset]
    worker: Worker | None = None

    async def stop(self) -> None:
        try:
            if self.worker is not None:
                # Running jobs go back to the queue at once (another worker takes them now,
                # not when the lease expires); each runner gets the cancel grace to wind down.
                await self.worker.stop(grace=0)
        finally:
            await self.events.stop()
            await self.registry.aclose()


async def start_generation(ctx: HubContext) -> GenerationComponent:
    settings = ctx.settings
    registry = ProviderRegistry.from_settings(settings)
    events = JobEvents(
        ctx.bus,
        channel=events_channel(settings),
        lookup=database_route_lookup(ctx.db),
        emit_room=_rooms_emitter(ctx),
    )
    presets = {preset.id: preset for preset in registry.presets}
    component = GenerationComponent(registry=registry, events=events, presets=presets)
    try:
        await events.start()
        if settings.embedded_worker:
            component.worker = Worker(
                ctx.db,
                settings,
                build_runner(ctx.db, ctx.storage, registry),
                events,
                preview_sink=preview_data_url,
                on_orphan_keys=orphan_sink(ctx.db, ctx.storage),
                media_cleanup=media_cleanup(ctx.db, ctx.storage, settings),
                provider_of=provider_lookup(registry),
            )
            await component.worker.start()
    except BaseException:
        await component.stop()
        raise
    return component


# --- hub worker ----------------------------------------------------------------------------------


async def run_separate_worker(
    settings: Settings,
    *,
    db: Database,
    bus: Bus,
    storage: Storage,
    registry: ProviderRegistry,
    rooms: RoomServer,
) -> int:
    """``hub worker``: one worker with the web process's runner and event sink, until SIGTERM.
    ``rooms`` publishes the job events to the rooms (``hub.collab.component``'s publisher)."""

    async def emit(slug: str, kind: str, data: Mapping[str, Any], persist: bool) -> Any:
        return await rooms.emit_event(slug, kind, data, persist=persist)

    events = JobEvents(
        bus, channel=events_channel(settings), lookup=database_route_lookup(db), emit_room=emit
    )
    return await run_worker_process(
        settings,
        runner=build_runner(db, storage, registry),
        on_job_event=_logged(events),
        preview_sink=preview_data_url,
        on_orphan_keys=orphan_sink(db, storage),
        media_cleanup=media_cleanup(db, storage, settings),
        db=db,
        provider_of=provider_lookup(registry),
    )
