"""OpenRouter chat completions with image output, against a fake following its documented shapes."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from hub.generation.providers import (
    AuthFailed,
    BadResponse,
    Canceled,
    GenerationFailed,
    GenerationRequest,
    NoCredit,
    OpenRouterConfig,
    OpenRouterProvider,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    QuotaExceeded,
    SafetyBlocked,
    no_progress,
)

from .support import FakeApi, Recorder, b64, hang, make_jpeg, make_png, raise_error, reply

PNG = make_png(72, 48)


def openrouter(api: FakeApi, **config: Any) -> OpenRouterProvider:
    settings: dict[str, Any] = {"api_key": "or-key", "base_url": "https://router.test"}
    settings.update(config)
    return OpenRouterProvider(OpenRouterConfig(**settings), transport=api.transport)


def completion(*urls: str, finish: str = "stop", content: str = "") -> dict[str, Any]:
    return {
        "id": "gen-1",
        "choices": [
            {
                "finish_reason": finish,
                "message": {
                    "role": "assistant",
                    "content": content,
                    "images": [{"type": "image_url", "image_url": {"url": url}} for url in urls],
                },
            }
        ],
    }


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{b64(data)}"


async def test_success_and_request_shape(recorder: Recorder) -> None:
    api = FakeApi(reply(200, completion(data_url(PNG))))
    provider = openrouter(api, app_url="https://hub.test", app_title="Hub")
    request = GenerationRequest("a paper boat", width=512, height=896, seed=4)
    images = await provider.generate(request, recorder)
    assert [(i.mime, i.width, i.height, i.seed) for i in images] == [("image/png", 72, 48, 4)]
    assert recorder.steps == [(0, 1), (1, 1)]
    sent = api.requests[0]
    assert str(sent.url) == "https://router.test/api/v1/chat/completions"
    assert sent.headers["authorization"] == "Bearer or-key"
    assert sent.headers["http-referer"] == "https://hub.test"
    assert sent.headers["x-title"] == "Hub"
    body = api.json_bodies()[0]
    assert body["model"] == "google/gemini-2.5-flash-image"
    assert body["modalities"] == ["image", "text"]
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "a paper boat"}]}
    ]
    assert body["image_config"] == {"aspect_ratio": "9:16"}
    assert body["seed"] == 4
    await provider.aclose()


async def test_img2img_and_count() -> None:
    api = FakeApi(reply(200, completion(data_url(make_jpeg(10, 10), "image/jpeg"))))
    source = make_png(20, 20)
    images = await openrouter(api).generate(
        GenerationRequest("x", source_image=source, count=2, seed=1), no_progress
    )
    assert [(i.mime, i.seed) for i in images] == [("image/jpeg", 1), ("image/jpeg", 2)]
    content = api.json_bodies()[0]["messages"][0]["content"]
    assert content[1] == {"type": "image_url", "image_url": {"url": data_url(source)}}


async def test_no_credit_is_final() -> None:
    body = {"error": {"code": 402, "message": "Insufficient credits. Add more using ..."}}
    with pytest.raises(NoCredit) as info:
        await openrouter(FakeApi(reply(402, body))).generate(GenerationRequest("x"), no_progress)
    assert not info.value.retryable
    assert info.value.code == "no_credit"


async def test_moderation_flag_is_safety_blocked() -> None:
    body = {
        "error": {
            "code": 403,
            "message": "Your chosen model requires moderation and your input was flagged",
            "metadata": {"reasons": ["violence"], "flagged_input": "...", "provider_name": "x"},
        }
    }
    with pytest.raises(SafetyBlocked) as info:
        await openrouter(FakeApi(reply(403, body))).generate(GenerationRequest("x"), no_progress)
    assert "violence" in info.value.detail


async def test_content_filter_finish_is_safety_blocked() -> None:
    api = FakeApi(reply(200, completion(finish="content_filter")))
    with pytest.raises(SafetyBlocked):
        await openrouter(api).generate(GenerationRequest("x"), no_progress)


async def test_text_only_answer_is_generation_failed() -> None:
    api = FakeApi(reply(200, completion(content="I cannot draw, but here is a poem.")))
    with pytest.raises(GenerationFailed) as info:
        await openrouter(api).generate(GenerationRequest("x"), no_progress)
    assert "poem" in info.value.detail


@pytest.mark.parametrize(
    ("status", "body", "cls", "retryable"),
    [
        (401, {"error": {"code": 401, "message": "No auth credentials found"}}, AuthFailed, False),
        (403, {"error": {"code": 403, "message": "Key disabled"}}, AuthFailed, False),
        (408, {"error": {"code": 408, "message": "Timed out"}}, ProviderTimeout, True),
        (429, {"error": {"code": 429, "message": "Rate limited"}}, QuotaExceeded, True),
        (502, {"error": {"code": 502, "message": "Model down"}}, ProviderUnavailable, True),
        (503, {"error": {"code": 503, "message": "No provider"}}, ProviderUnavailable, True),
        # An error can arrive in a 200 body; its code is the real status.
        (
            200,
            {"error": {"code": 502, "message": "Provider returned error"}},
            ProviderUnavailable,
            True,
        ),
        (200, {"error": {"code": 402, "message": "credits"}}, NoCredit, False),
        (200, {"error": {"message": "odd"}}, BadResponse, False),
    ],
)
async def test_errors(status: int, body: Any, cls: type[ProviderError], retryable: bool) -> None:
    with pytest.raises(cls) as info:
        await openrouter(FakeApi(reply(status, body))).generate(GenerationRequest("x"), no_progress)
    assert info.value.retryable is retryable


async def test_error_inside_the_choice() -> None:
    body = {"choices": [{"error": {"code": 429, "message": "upstream rate limit"}, "message": {}}]}
    with pytest.raises(QuotaExceeded):
        await openrouter(FakeApi(reply(200, body))).generate(GenerationRequest("x"), no_progress)


@pytest.mark.parametrize(
    "body",
    [
        b"not json at all",
        {"choices": []},
        {"id": "x"},
        completion("data:image/png;base64,@@@"),
        completion("data:text/html;base64,PGgxPg=="),
        completion(data_url(b"GIF89a-but-not-really")),
    ],
    ids=["text", "no-choices", "no-choices-key", "bad-b64", "not-image-mime", "not-an-image"],
)
async def test_malformed_responses(body: Any) -> None:
    with pytest.raises(BadResponse):
        await openrouter(FakeApi(reply(200, body))).generate(GenerationRequest("x"), no_progress)


async def test_connection_error_and_cancel() -> None:
    with pytest.raises(ProviderUnavailable):
        await openrouter(FakeApi(raise_error(httpx.ConnectError))).generate(
            GenerationRequest("x"), no_progress
        )
    started = asyncio.Event()
    provider = openrouter(FakeApi(hang(started)))
    task = asyncio.create_task(provider.generate(GenerationRequest("x", job_id="o1"), no_progress))
    await started.wait()
    await provider.cancel("o1")
    with pytest.raises(Canceled):
        await task


def test_config_requires_key() -> None:
    with pytest.raises(ValueError, match="API key"):
        OpenRouterConfig(api_key="")
