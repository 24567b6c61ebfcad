"""The ComfyUI client against a real (fake) ComfyUI server on a loopback port."""

from __future__ import annotations

import asyncio
import json
import struct
from collections.abc import AsyncIterator
from typing import Any

import pytest

from hub.generation.providers import (
    Canceled,
    ComfyUIConfig,
    ComfyUIProvider,
    GenerationFailed,
    GenerationRequest,
    InvalidRequest,
    Progress,
    ProviderTimeout,
    ProviderUnavailable,
    RequestRejected,
    no_progress,
)
from hub.generation.providers import comfyui_workflows as workflows
from hub.generation.providers.comfyui import parse_preview
from tests.helpers import eventually, free_port

from .fake_comfyui import FakeComfyUI, serve
from .support import Recorder, decode, make_png


@pytest.fixture
async def fake() -> AsyncIterator[FakeComfyUI]:
    async with serve(FakeComfyUI()) as server:
        yield server


def red(preview: bytes) -> int:
    pixel = decode(preview).convert("RGB").getpixel((8, 8))
    assert isinstance(pixel, tuple)
    return int(pixel[0])


def client(fake: FakeComfyUI, **config: Any) -> ComfyUIProvider:
    return ComfyUIProvider(ComfyUIConfig(base_url=fake.url, **config))


async def test_txt2img_success_with_progress_and_previews(
    fake: FakeComfyUI, recorder: Recorder
) -> None:
    fake.foreign_events = True  # someone else's prompt runs too: its events must be ignored
    provider = client(fake, checkpoint="sd15.safetensors")
    request = GenerationRequest(
        "a castle", negative_prompt="fog", width=192, height=128, steps=6, seed=99, job_id="job-1"
    )
    images = await provider.generate(request, recorder)
    await provider.aclose()

    assert [(i.mime, i.width, i.height, i.seed) for i in images] == [("image/png", 192, 128, 99)]
    assert decode(images[0].data).size == (192, 128)
    # One event per step, carrying that step's preview (ours only: three type-1 and three
    # type-4 frames; the foreign prompt's are ignored).
    assert recorder.steps == [(s, 6) for s in range(1, 7)]
    assert len(recorder.previews) == 6
    assert all(decode(p).format == "JPEG" for p in recorder.previews)
    # Step k's preview, not the one before or after it (the fake paints step k in red k*20).
    reds = [red(p) for p in recorder.previews]
    assert all(abs(r - step * 20) <= 6 for r, step in zip(reds, range(1, 7), strict=True)), reds

    (posted,) = fake.called("POST", "/prompt")
    graph = posted["prompt"]
    assert graph["6"]["inputs"]["text"] == "a castle"
    assert graph["7"]["inputs"]["text"] == "fog"
    assert graph["3"]["inputs"]["seed"] == 99
    assert graph["3"]["inputs"]["steps"] == 6
    assert graph["5"]["inputs"] == {"width": 192, "height": 128, "batch_size": 1}
    assert graph["4"]["inputs"]["ckpt_name"] == "sd15.safetensors"
    assert graph["9"]["inputs"]["filename_prefix"] == "hub_job-1_0"
    assert posted["client_id"]  # without it there is no done signal
    assert fake.connections == 1


async def test_count_queues_one_prompt_per_seed(fake: FakeComfyUI, recorder: Recorder) -> None:
    provider = client(fake)
    images = await provider.generate(
        GenerationRequest("x", steps=3, count=2, seed=5, width=64, height=64), recorder
    )
    await provider.aclose()
    assert [i.seed for i in images] == [5, 6]
    assert images[0].data != images[1].data
    seeds = [body["prompt"]["3"]["inputs"]["seed"] for body in fake.called("POST", "/prompt")]
    assert seeds == [5, 6]
    prefixes = {
        body["prompt"]["9"]["inputs"]["filename_prefix"] for body in fake.called("POST", "/prompt")
    }
    assert len(prefixes) == 2  # a fresh output file per image, never a cached old one
    assert recorder.steps == [(s, 6) for s in range(1, 7)]
    assert len(recorder.previews) == 6


async def test_without_previews_each_step_is_reported_once(
    fake: FakeComfyUI, recorder: Recorder
) -> None:
    fake.previews = False  # ComfyUI started without --preview-method
    fake.step_delay = 0.05
    provider = client(fake, preview_wait=0.01)
    await provider.generate(GenerationRequest("x", steps=4, width=64, height=64), recorder)
    await provider.aclose()
    assert recorder.steps == [(s, 4) for s in range(1, 5)]
    assert recorder.previews == []


async def test_img2img_uploads_source_and_sets_denoise(fake: FakeComfyUI) -> None:
    provider = client(fake)
    source = make_png(100, 80)
    request = GenerationRequest(
        "repaint", source_image=source, strength=0.35, steps=2, width=128, height=96
    )
    images = await provider.generate(request, no_progress)
    await provider.aclose()
    assert (images[0].width, images[0].height) == (128, 96)
    ((name, data),) = fake.uploads.items()
    assert data == source
    assert name.endswith(".png")
    assert fake.called("POST", "/upload/image") == [{"type": "input", "overwrite": "true"}]
    graph = fake.called("POST", "/prompt")[0]["prompt"]
    assert graph["10"]["inputs"]["image"] == name
    assert graph["3"]["inputs"]["denoise"] == 0.35
    assert graph["12"]["inputs"]["width"] == 128


async def test_execution_error_is_generation_failed(fake: FakeComfyUI) -> None:
    provider = client(fake)
    with pytest.raises(GenerationFailed, match="KSampler") as info:
        await provider.generate(GenerationRequest("[error] x", steps=4), no_progress)
    assert not info.value.retryable
    assert "mat1 and mat2" in info.value.detail
    # ComfyUI's own words reach the job's error, not only the logs.
    assert "RuntimeError: mat1 and mat2 shapes cannot be multiplied" in info.value.message
    with pytest.raises(GenerationFailed) as oom:
        await provider.generate(GenerationRequest("[oom] x", steps=4), no_progress)
    assert oom.value.retryable  # out of memory may pass on the next try
    await provider.aclose()


async def test_interrupted_on_the_server_is_canceled(fake: FakeComfyUI) -> None:
    provider = client(fake)
    with pytest.raises(Canceled, match="interrupted on the ComfyUI server"):
        await provider.generate(GenerationRequest("[interrupt] x", steps=5), no_progress)
    await provider.aclose()


async def test_cancel_queued_prompt_deletes_it(fake: FakeComfyUI) -> None:
    fake.gate.clear()  # the "GPU" is busy: our prompt stays in the queue
    provider = client(fake)
    task = asyncio.create_task(provider.generate(GenerationRequest("x", job_id="q1"), no_progress))
    await eventually(lambda: fake.pending, message="prompt queued")
    prompt_id = fake.pending[0].prompt_id
    await provider.cancel("q1")
    with pytest.raises(Canceled):
        await task
    assert fake.called("POST", "/queue") == [{"delete": [prompt_id]}]
    assert fake.called("POST", "/interrupt") == []  # never stop somebody else's job
    assert fake.pending == []
    await provider.aclose()


async def test_cancel_running_prompt_interrupts_it_by_id(
    fake: FakeComfyUI, recorder: Recorder
) -> None:
    fake.step_delay = 0.05
    provider = client(fake)
    task = asyncio.create_task(
        provider.generate(GenerationRequest("x", steps=100, job_id="r1"), recorder)
    )
    await eventually(lambda: len(recorder.events) >= 2, message="running")
    assert fake.running is not None
    prompt_id = fake.running.prompt_id
    await provider.cancel("r1")
    with pytest.raises(Canceled):
        await task
    assert fake.called("POST", "/interrupt") == [{"prompt_id": prompt_id}]
    await eventually(
        lambda: fake.history.get(prompt_id, {}).get("status", {}).get("status_str") == "error",
        message="server stopped the prompt",
    )
    assert len(recorder.events) < 100
    await provider.aclose()


async def test_failing_progress_callback_stops_the_remote_prompt(fake: FakeComfyUI) -> None:
    fake.step_delay = 0.02

    async def broken(progress: Progress) -> None:
        if progress.step >= 2:
            raise RuntimeError("the room went away")

    provider = client(fake)
    with pytest.raises(RuntimeError, match="room went away"):
        await provider.generate(GenerationRequest("x", steps=50), broken)
    (prompt_id,) = fake.queued_ids
    assert fake.called("POST", "/interrupt") == [{"prompt_id": prompt_id}]
    await provider.aclose()


async def test_job_id_cannot_steer_the_output_path(fake: FakeComfyUI) -> None:
    provider = client(fake)
    await provider.generate(GenerationRequest("x", steps=1, job_id="../../etc/x y"), no_progress)
    await provider.aclose()
    prefix = fake.called("POST", "/prompt")[0]["prompt"]["9"]["inputs"]["filename_prefix"]
    assert prefix == "hub_-etc-x-y_0"


async def test_validation_error_is_request_rejected(fake: FakeComfyUI) -> None:
    provider = client(fake, checkpoint="missing.safetensors")
    with pytest.raises(RequestRejected) as info:
        await provider.generate(GenerationRequest("x"), no_progress)
    assert "missing.safetensors" in info.value.detail
    assert (
        "Prompt outputs failed validation; CheckpointLoaderSimple: Value not in list: "
        "ckpt_name: 'missing.safetensors' not in"
    ) in info.value.message
    assert not info.value.retryable
    await provider.aclose()


async def test_deeply_nested_json_from_the_server_is_ignored_or_rejected(
    fake: FakeComfyUI, recorder: Recorder
) -> None:
    provider = client(fake)
    # Frames nested past any sane depth are skipped like any other unreadable frame.
    images = await provider.generate(GenerationRequest("[deep] x", steps=3), recorder)
    assert len(images) == 1
    assert recorder.steps == [(1, 3), (2, 3), (3, 3)]
    # A refusal whose body nests that deep is still a refusal (its words are not read).
    with pytest.raises(RequestRejected) as info:
        await provider.generate(GenerationRequest("[deep-400] x"), no_progress)
    assert not info.value.retryable
    await provider.aclose()


async def test_whole_job_timeout_removes_the_prompt(fake: FakeComfyUI) -> None:
    fake.gate.clear()
    provider = client(fake, timeout=0.4)
    with pytest.raises(ProviderTimeout, match="did not finish"):
        await provider.generate(GenerationRequest("x"), no_progress)
    assert fake.called("POST", "/queue") == [{"delete": fake.queued_ids}]
    assert fake.pending == []
    await provider.aclose()


async def test_reconnects_after_the_socket_drops(fake: FakeComfyUI, recorder: Recorder) -> None:
    provider = client(fake, reconnect_delay=0.05)
    images = await provider.generate(GenerationRequest("[drop] x", steps=6), recorder)
    await provider.aclose()
    assert len(images) == 1
    assert fake.connections == 2


async def test_socket_that_stays_down_is_unavailable_and_stops_the_prompt(
    fake: FakeComfyUI,
) -> None:
    fake.step_delay = 0.02
    provider = client(fake, reconnect_delay=0.01, reconnect_attempts=2)
    with pytest.raises(ProviderUnavailable, match="connection to ComfyUI was lost") as info:
        await provider.generate(GenerationRequest("[drop][stay-down] x", steps=100), no_progress)
    assert info.value.retryable
    (prompt_id,) = fake.queued_ids
    assert fake.called("POST", "/interrupt") == [{"prompt_id": prompt_id}]
    await provider.aclose()


async def test_result_is_awaited_when_history_lags(fake: FakeComfyUI) -> None:
    fake.history_delay = 0.2
    provider = client(fake)
    images = await provider.generate(GenerationRequest("x", steps=2), no_progress)
    await provider.aclose()
    assert len(images) == 1


async def test_unreachable_server_is_unavailable() -> None:
    provider = ComfyUIProvider(ComfyUIConfig(base_url=f"http://127.0.0.1:{free_port()}"))
    with pytest.raises(ProviderUnavailable) as info:
        await provider.generate(GenerationRequest("x"), no_progress)
    assert info.value.retryable
    await provider.aclose()


async def test_bad_source_image_never_reaches_the_server(fake: FakeComfyUI) -> None:
    provider = client(fake)
    with pytest.raises(InvalidRequest):
        await provider.generate(GenerationRequest("x", source_image=b"nope"), no_progress)
    assert fake.calls == []
    await provider.aclose()


def test_parse_preview_frames() -> None:
    jpeg = b"\xff\xd8jpeg-bytes"
    assert parse_preview(struct.pack(">II", 1, 1) + jpeg) == (jpeg, None)
    meta = json.dumps({"prompt_id": "p1", "node_id": "3"}).encode()
    assert parse_preview(struct.pack(">II", 4, len(meta)) + meta + jpeg) == (jpeg, "p1")
    assert parse_preview(b"\x00\x00") is None
    assert parse_preview(struct.pack(">II", 3, 5) + b"hello") is None  # text frame
    assert parse_preview(struct.pack(">II", 4, 999) + b"{}") is None  # length beyond frame
    assert parse_preview(struct.pack(">II", 4, 3) + b"{{{" + jpeg) is None
    deep = b"[" * 100_000 + b"]" * 100_000
    assert parse_preview(struct.pack(">II", 4, len(deep)) + deep + jpeg) is None


def test_workflow_templates_render_typed_values() -> None:
    graph = workflows.render(
        workflows.TXT2IMG,
        {"$prompt": "cost $5 please", "$seed": 12, "$width": 512, "$steps": 7},
    )
    assert graph["6"]["inputs"]["text"] == "cost $5 please"
    assert graph["3"]["inputs"]["seed"] == 12
    assert graph["5"]["inputs"]["width"] == 512
    assert graph["3"]["inputs"]["model"] == ["4", 0]
    assert workflows.TXT2IMG["3"]["inputs"]["seed"] == "$seed"  # the template is not mutated
    workflows.check_template(workflows.TXT2IMG, img2img=False)
    workflows.check_template(workflows.IMG2IMG, img2img=True)


@pytest.mark.parametrize(
    ("template", "img2img", "words"),
    [
        ({}, False, "must not be empty"),
        ({"1": {"inputs": {}}}, False, "API format"),
        (
            {"1": {"class_type": "X", "inputs": {"text": "$promt", "seed": "$seed"}}},
            False,
            "Unknown",
        ),
        ({"1": {"class_type": "X", "inputs": {"seed": "$seed"}}}, False, r"\$prompt"),
        (workflows.TXT2IMG, True, r"\$image"),
    ],
)
def test_bad_custom_workflows_fail_at_configuration(
    template: dict[str, Any], img2img: bool, words: str
) -> None:
    def build() -> ComfyUIConfig:
        if img2img:
            return ComfyUIConfig(img2img_workflow=template)
        return ComfyUIConfig(txt2img_workflow=template)

    with pytest.raises(ValueError, match=words):
        build()


async def test_custom_workflow_is_used(fake: FakeComfyUI) -> None:
    custom = json.loads(json.dumps(workflows.TXT2IMG))
    custom["3"]["inputs"]["sampler_name"] = "dpmpp_2m"
    provider = client(fake, txt2img_workflow=custom)
    await provider.generate(GenerationRequest("x", steps=2), no_progress)
    await provider.aclose()
    assert fake.called("POST", "/prompt")[0]["prompt"]["3"]["inputs"]["sampler_name"] == "dpmpp_2m"
