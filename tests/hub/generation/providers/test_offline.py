"""The offline engine: real, deterministic images with real progress."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageStat

from hub.generation.providers import (
    Canceled,
    GenerationRequest,
    InvalidRequest,
    OfflineConfig,
    OfflineProvider,
    ProviderUnavailable,
    no_progress,
)
from hub.generation.providers import _offline_art as art
from hub.generation.providers import _offline_prompt as prompts
from tests.helpers import eventually

from .support import Recorder, decode, make_jpeg, make_png

ROOT = Path(__file__).resolve().parents[4]


@pytest.fixture
async def provider() -> OfflineProvider:
    return OfflineProvider(OfflineConfig(step_delay=0))


def difference(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute per-channel difference, 0..255."""
    diff = ImageChops.difference(a.convert("RGB"), b.convert("RGB").resize(a.size))
    return sum(ImageStat.Stat(diff).mean) / 3


async def test_same_input_gives_identical_bytes() -> None:
    request = GenerationRequest("a lighthouse by the sea at sunset", seed=42, steps=6)
    first = await OfflineProvider(OfflineConfig(step_delay=0)).generate(request, no_progress)
    second = await OfflineProvider(OfflineConfig(step_delay=0)).generate(request, no_progress)
    assert first[0].data == second[0].data
    assert first[0].data.startswith(b"\x89PNG\r\n\x1a\n")


def test_identical_bytes_across_processes_with_different_hash_seeds() -> None:
    # Set iteration order changes with PYTHONHASHSEED: the art must not depend on it.
    code = (
        "import asyncio, hashlib\n"
        "from hub.generation.providers import GenerationRequest, OfflineProvider, OfflineConfig\n"
        "from hub.generation.providers import no_progress\n"
        "r = GenerationRequest('zebra apple quantum harbor 城市 night', seed=7, steps=4,\n"
        "                      width=128, height=96, model='detail')\n"
        "p = OfflineProvider(OfflineConfig(step_delay=0))\n"
        "imgs = asyncio.run(p.generate(r, no_progress))\n"
        "print(hashlib.sha256(imgs[0].data).hexdigest())\n"
    )
    digests = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        result = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        digests.add(result.stdout.strip())
    assert len(digests) == 1


async def test_seed_prompt_and_style_change_the_image(provider: OfflineProvider) -> None:
    base = GenerationRequest(
        "mountains under a starry night", seed=1, steps=4, width=128, height=128
    )
    variants = [
        base,
        GenerationRequest(**{**base.__dict__, "seed": 2}),
        GenerationRequest(**{**base.__dict__, "prompt": "a red flower garden"}),
        GenerationRequest(**{**base.__dict__, "model": "sketch"}),
        GenerationRequest(**{**base.__dict__, "negative_prompt": "night"}),
    ]
    outputs = [(await provider.generate(r, no_progress))[0].data for r in variants]
    assert len(set(outputs)) == len(outputs)


async def test_more_steps_add_detail(provider: OfflineProvider) -> None:
    few = GenerationRequest("an abstract storm of colour", seed=3, steps=4, width=256, height=256)
    many = GenerationRequest(**{**few.__dict__, "steps": 40})
    a = (await provider.generate(few, no_progress))[0]
    b = (await provider.generate(many, no_progress))[0]
    assert a.data != b.data


async def test_output_is_png_of_requested_size_with_consecutive_seeds(
    provider: OfflineProvider,
) -> None:
    request = GenerationRequest("city skyline", seed=10, count=3, steps=3, width=192, height=128)
    images = await provider.generate(request, no_progress)
    assert [image.seed for image in images] == [10, 11, 12]
    assert len({image.data for image in images}) == 3
    for image in images:
        decoded = decode(image.data)
        assert (image.mime, decoded.format) == ("image/png", "PNG")
        assert decoded.size == (192, 128) == (image.width, image.height)
    # Image #2 of the batch is exactly what a single request with seed 11 gives.
    single = await provider.generate(
        GenerationRequest("city skyline", seed=11, steps=3, width=192, height=128), no_progress
    )
    assert single[0].data == images[1].data


async def test_progress_reports_every_step_with_decodable_previews(
    provider: OfflineProvider, recorder: Recorder
) -> None:
    request = GenerationRequest("a forest", steps=6, count=2, width=256, height=128)
    await provider.generate(request, recorder)
    assert recorder.steps == [(step, 12) for step in range(1, 13)]
    assert len(recorder.previews) == 12
    for preview in recorder.previews:
        image = decode(preview)
        assert image.format == "JPEG"
        assert max(image.size) == 64
        assert image.size == (64, 32)


async def test_previews_converge_on_the_final_image(
    provider: OfflineProvider, recorder: Recorder
) -> None:
    request = GenerationRequest("sunset over the ocean", steps=8, width=256, height=256)
    images = await provider.generate(request, recorder)
    final = decode(images[0].data)
    distances = [difference(decode(p), final) for p in recorder.previews]
    assert distances[0] > distances[3] > distances[-1]
    assert distances[-1] < 6  # the last preview is the finished picture, only smaller


async def test_img2img_strength_controls_how_much_the_source_survives(
    provider: OfflineProvider,
) -> None:
    source_bytes = make_png(320, 240, (20, 160, 90))
    source = decode(source_bytes).resize((128, 128))
    results = {}
    for strength in (0.0, 0.3, 0.9):
        request = GenerationRequest(
            "a purple galaxy",
            steps=4,
            width=128,
            height=128,
            source_image=source_bytes,
            strength=strength,
        )
        results[strength] = decode((await provider.generate(request, no_progress))[0].data)
    assert difference(results[0.0], source) < 1
    assert difference(results[0.3], source) < difference(results[0.9], source)
    plain = await provider.generate(
        GenerationRequest("a purple galaxy", steps=4, width=128, height=128), no_progress
    )
    assert difference(results[0.9], decode(plain[0].data)) > 1  # the source still shows


async def test_img2img_accepts_jpeg_and_rejects_garbage(provider: OfflineProvider) -> None:
    ok = GenerationRequest("x", steps=2, width=64, height=64, source_image=make_jpeg())
    assert len(await provider.generate(ok, no_progress)) == 1
    for bad in (b"definitely not an image", b"GIF89a" + b"\x00" * 40):
        request = GenerationRequest("x", steps=2, width=64, height=64, source_image=bad)
        with pytest.raises(InvalidRequest, match="source image"):
            await provider.generate(request, no_progress)


@pytest.mark.parametrize(
    ("width", "height", "words"),
    [
        (63, 512, "between 64 and 2048"),
        (512, 2056, "between 64 and 2048"),
        (500, 512, "multiple of 8"),
        (512, 4096, "between 64 and 2048"),
    ],
)
async def test_size_validation(
    provider: OfflineProvider, width: int, height: int, words: str
) -> None:
    with pytest.raises(ValueError, match=words):
        await provider.generate(GenerationRequest("x", width=width, height=height), no_progress)


async def test_unknown_style_is_rejected(provider: OfflineProvider) -> None:
    with pytest.raises(InvalidRequest, match="Unknown offline style 'oil'"):
        await provider.generate(GenerationRequest("x", model="oil"), no_progress)


async def test_cancel_between_steps(recorder: Recorder) -> None:
    provider = OfflineProvider(OfflineConfig(step_delay=0.02))
    request = GenerationRequest("slow one", steps=150, width=128, height=128, job_id="job-c")
    task = asyncio.create_task(provider.generate(request, recorder))
    await eventually(lambda: len(recorder.events) >= 2, message="two progress steps")
    await provider.cancel("job-c")
    with pytest.raises(Canceled):
        await task
    seen = len(recorder.events)
    await asyncio.sleep(0.1)
    assert len(recorder.events) == seen < 150


async def test_cancel_before_start_and_unknown_job(provider: OfflineProvider) -> None:
    await provider.cancel("nobody")  # unknown ids are fine
    await provider.cancel("job-early")
    with pytest.raises(Canceled):
        await provider.generate(GenerationRequest("x", job_id="job-early"), no_progress)


async def test_aclose_stops_running_jobs(recorder: Recorder) -> None:
    provider = OfflineProvider(OfflineConfig(step_delay=0.02))
    task = asyncio.create_task(
        provider.generate(GenerationRequest("x", steps=150, width=64, height=64), recorder)
    )
    await eventually(lambda: recorder.events)
    await provider.aclose()
    # Shutdown is not the job's fault: retryable, so another worker can take it.
    with pytest.raises(ProviderUnavailable, match="shutting down") as info:
        await task
    assert info.value.retryable


async def test_rendering_runs_off_the_event_loop(
    provider: OfflineProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: set[int] = set()
    original = art.Scene.draw_share

    def spy(self: art.Scene, step: int, steps: int) -> None:
        threads.add(threading.get_ident())
        original(self, step, steps)

    monkeypatch.setattr(art.Scene, "draw_share", spy)
    await provider.generate(GenerationRequest("x", steps=3, width=64, height=64), no_progress)
    assert threads
    assert threading.get_ident() not in threads


def test_prompt_words_drive_palette_and_themes() -> None:
    night = prompts.analyse_prompt("a starry night over snowy mountains")
    assert {"night", "mountain"} <= set(night.themes)
    assert night.dark
    chinese = prompts.analyse_prompt("夜晚的城市和红色的花")
    assert {"night", "city", "flower"} <= set(chinese.themes)
    assert prompts.COLOR_WORDS["红"] in chinese.palette
    blocked = prompts.analyse_prompt("a red sunset over the sea", negative="red, sea")
    assert "water" not in blocked.themes
    assert prompts.COLOR_WORDS["red"] not in blocked.palette
    assert prompts.analyse_prompt("a cat").palette != prompts.analyse_prompt("a dog").palette


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="step_delay"):
        OfflineConfig(step_delay=-1)
    with pytest.raises(ValueError, match="default_style"):
        OfflineConfig(default_style="oil")
    with pytest.raises(ValueError, match="preview_size"):
        OfflineConfig(preview_size=4)
