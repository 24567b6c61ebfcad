"""Job runners: turn a claimed job into stored images.

* :func:`provider_runner` runs a job through a generation provider (``hub.generation.providers``)
  and stores each image with a caller-supplied ``store`` function (both processes wire the
  storage service there: :func:`hub.generation.component.build_runner`);
* :func:`step_runner` is a tiny runner without pixels: it reports N steps and returns fake keys.
  Tests and benchmarks use it to exercise the queue without image work.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from hub.errors import HubError, Unavailable, database_unavailable
from hub.generation.errors import JobError, JobInterrupted
from hub.generation.providers.base import (
    GeneratedImage,
    GenerationRequest,
    Progress,
    Provider,
)
from hub.generation.providers.registry import ModelPreset
from hub.generation.queue import ImageRef
from hub.generation.runner_api import JobContext, JobResult, JobRunner, JobSpec

ImageStore = Callable[[JobSpec, int, GeneratedImage], Awaitable[ImageRef]]
SourceLoader = Callable[[str], Awaitable[bytes]]
Resolver = Callable[[str], tuple[ModelPreset, Provider]]


def step_runner(steps: int = 5, delay: float = 0.0) -> JobRunner:
    """Report ``steps`` progress steps (``delay`` seconds apart) and return one fake key per
    requested image. Honors stop requests between steps."""

    async def run(ctx: JobContext) -> JobResult:
        for step in range(1, steps + 1):
            ctx.raise_if_stopped()
            await asyncio.sleep(delay)
            await ctx.progress(step, steps)
        count = int(ctx.job.params.get("count", 1) or 1)
        images = [
            ImageRef(key=f"steps/{ctx.job.job_id}/{index}.txt", seed=index)
            for index in range(count)
        ]
        return JobResult(images=images)

    return run


async def _load_source(load_source: SourceLoader | None, key: str) -> bytes:
    if load_source is None:
        raise JobError("This server cannot read source images.", code="source_unsupported")
    try:
        return await load_source(key)
    except Unavailable as exc:
        raise JobError(exc.message, code="storage_unavailable", retryable=True) from exc
    except (HubError, ValueError, OSError) as exc:
        # Gone, never uploaded, or not a valid key: another attempt cannot find it either.
        raise JobError("The source image is missing.", code="source_missing") from exc


async def _store_all(
    store: ImageStore, job: JobSpec, images: list[GeneratedImage]
) -> list[ImageRef]:
    """Stores every image. A store or database that is down fails the attempt as retryable,
    as for source images: the next attempt replaces what this one stored (``save_generated_image``
    retires earlier attempts' rows), so a brief outage costs a retry, not the job."""
    try:
        return [await store(job, index, image) for index, image in enumerate(images)]
    except Unavailable as exc:
        raise JobError(exc.message, code="storage_unavailable", retryable=True) from exc
    except Exception as exc:
        if not database_unavailable(exc):
            raise
        message = "The database is unavailable; the job will be retried."
        raise JobError(message, code="unavailable", retryable=True) from exc


def provider_runner(
    resolve: Resolver, store: ImageStore, load_source: SourceLoader | None = None
) -> JobRunner:
    """A runner that asks ``resolve(job.model)`` for the preset and provider, generates, and
    stores every image through ``store``. A stop request cancels the provider's work."""

    async def run(ctx: JobContext) -> JobResult:
        job = ctx.job
        preset, provider = resolve(job.model)
        params = job.params
        source = None
        if job.source_image_key is not None:
            source = await _load_source(load_source, job.source_image_key)
        request = GenerationRequest(
            prompt=job.prompt,
            negative_prompt=job.negative_prompt,
            width=int(params.get("width", 512)),
            height=int(params.get("height", 512)),
            steps=int(params.get("steps", preset.default_steps)),
            seed=int(params.get("seed", 0)),
            count=int(params.get("count", 1)),
            model=preset.provider_model,
            source_image=source,
            strength=float(params.get("strength", 0.6)),
            job_id=job.job_id,
        )

        async def on_progress(progress: Progress) -> None:
            await ctx.progress(progress.step, progress.total, progress.preview)

        generate = asyncio.create_task(provider.generate(request, on_progress))
        stopped = asyncio.create_task(ctx.wait_stopped())
        try:
            await asyncio.wait({generate, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if not generate.done():
                await provider.cancel(job.job_id)
                await asyncio.gather(generate, return_exceptions=True)
                raise JobInterrupted(ctx.stop_reason or "stopped")
        finally:
            stopped.cancel()
            if not generate.done():
                generate.cancel()
                await asyncio.gather(generate, return_exceptions=True)
        return JobResult(images=await _store_all(store, job, generate.result()))

    return run
