"""The built-in offline engine: real, deterministic images from prompt + seed, no network.

It is the embedded default, so the hub works (and its tests run) with nothing but Python.
Rendering is plain Pillow (see ``_offline_art``) and runs in a worker thread one refinement
step at a time: the event loop stays free, progress is real, and a cancel lands between steps.
"""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass

from PIL import Image

from . import _offline_art as art
from ._common import IMAGE_FORMATS, JobTracker, load_source_image
from ._offline_prompt import STYLES
from .base import (
    GeneratedImage,
    GenerationRequest,
    InvalidRequest,
    Progress,
    ProgressCallback,
    validate_request,
)


@dataclass(frozen=True)
class OfflineConfig:
    # Pause after each step so people can watch progress; 0 in benchmarks and most tests.
    step_delay: float = 0.05
    preview_size: int = 64
    default_style: str = "paint"
    max_side: int = 2048

    def __post_init__(self) -> None:
        if self.step_delay < 0:
            raise ValueError("step_delay must be >= 0.")
        if not 16 <= self.preview_size <= 512:
            raise ValueError("preview_size must be between 16 and 512 pixels.")
        if self.default_style not in STYLES:
            raise ValueError(f"default_style must be one of {', '.join(STYLES)}.")
        if not 64 <= self.max_side <= 2048:
            raise ValueError("max_side must be between 64 and 2048 pixels.")


class OfflineProvider:
    """``request.model`` picks the style: ``sketch``, ``paint`` or ``detail`` (empty = default)."""

    name = "offline"

    def __init__(self, config: OfflineConfig | None = None) -> None:
        self.config = config or OfflineConfig()
        self._jobs = JobTracker()

    async def generate(
        self, request: GenerationRequest, progress: ProgressCallback
    ) -> list[GeneratedImage]:
        validate_request(request, max_side=self.config.max_side)
        style = request.model or self.config.default_style
        if style not in STYLES:
            raise InvalidRequest(
                f"Unknown offline style {style!r}; choose one of {', '.join(STYLES)}."
            )
        return await self._jobs.run(request.job_id, self._generate(request, style, progress))

    async def _generate(
        self, request: GenerationRequest, style: str, progress: ProgressCallback
    ) -> list[GeneratedImage]:
        source = None
        if request.source_image is not None:
            source = await asyncio.to_thread(
                _decode_source, request.source_image, (request.width, request.height)
            )
        total = request.steps * request.count
        images: list[GeneratedImage] = []
        for index in range(request.count):
            seed = request.seed + index
            scene = await asyncio.to_thread(
                art.build_scene,
                request.prompt,
                request.negative_prompt,
                style=style,
                seed=seed,
                width=request.width,
                height=request.height,
                steps=request.steps,
                source=source,
                strength=request.strength,
            )
            for step in range(request.steps):
                preview = await asyncio.to_thread(self._step, scene, step, request.steps)
                await progress(Progress(index * request.steps + step + 1, total, preview))
                # Sleeping (even 0 s) yields, and it is where a cancel arrives between steps.
                await asyncio.sleep(self.config.step_delay)
            data = await asyncio.to_thread(scene.png)
            images.append(GeneratedImage(data, "image/png", request.width, request.height, seed))
        return images

    def _step(self, scene: art.Scene, step: int, steps: int) -> bytes:
        scene.draw_share(step, steps)
        return scene.preview(step, steps, self.config.preview_size)

    async def cancel(self, job_id: str) -> None:
        await self._jobs.cancel_and_wait(job_id)

    async def aclose(self) -> None:
        await self._jobs.cancel_all()


def _decode_source(data: bytes, size: tuple[int, int]) -> Image.Image:
    load_source_image(data)  # format allow-list and pixel limit before the real decode
    with Image.open(io.BytesIO(data), formats=IMAGE_FORMATS) as im:
        return art.fit_source(im, size)
