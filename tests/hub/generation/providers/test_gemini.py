"""Gemini generateContent against a fake that follows the documented shapes."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import httpx
import pytest

from hub.generation.providers import (
    AuthFailed,
    BadResponse,
    Canceled,
    GeminiConfig,
    GeminiProvider,
    GenerationFailed,
    GenerationRequest,
    InvalidRequest,
    ProviderError,
    ProviderUnavailable,
    QuotaExceeded,
    RequestRejected,
    SafetyBlocked,
    no_progress,
)

from .support import FakeApi, Recorder, b64, hang, make_jpeg, make_png, raise_error, reply

PNG = make_png(80, 80)


def gemini(api: FakeApi, **config: Any) -> GeminiProvider:
    settings: dict[str, Any] = {"api_key": "g-key", "base_url": "https://gemini.test"}
    settings.update(config)
    return GeminiProvider(GeminiConfig(**settings), transport=api.transport)


def image_answer(data: bytes, *, camel: bool = True, text: str = "Here you go") -> dict[str, Any]:
    inline = (
        {"inlineData": {"mimeType": "image/png", "data": b64(data)}}
        if camel
        else {"inline_data": {"mime_type": "image/png", "data": b64(data)}}
    )
    return {
        "candidates": [
            {
                "content": {"role": "model", "parts": [{"text": text}, inline]},
                "finishReason": "STOP",
            }
        ],
        "usageMetadata": {"totalTokenCount": 1300},
    }


async def test_success_camel_case_and_request_shape(recorder: Recorder) -> None:
    api = FakeApi(reply(200, image_answer(PNG)))
    provider = gemini(api)
    request = GenerationRequest("a koi pond", negative_prompt="text", width=768, height=512, seed=3)
    images = await provider.generate(request, recorder)
    assert [(i.mime, i.width, i.seed) for i in images] == [("image/png", 80, 3)]
    assert recorder.steps == [(0, 1), (1, 1)]
    sent = api.requests[0]
    assert str(sent.url) == (
        "https://gemini.test/v1beta/models/gemini-2.5-flash-image:generateContent"
    )
    assert sent.headers["x-goog-api-key"] == "g-key"
    body = json.loads(sent.content)
    assert body["contents"][0]["parts"] == [{"text": "a koi pond\n\nAvoid: text"}]
    config = body["generationConfig"]
    assert config["responseModalities"] == ["TEXT", "IMAGE"]
    assert config["imageConfig"] == {"aspectRatio": "3:2"}
    assert config["seed"] == 3
    await provider.aclose()


async def test_snake_case_inline_data_and_count() -> None:
    api = FakeApi(reply(200, image_answer(PNG, camel=False)))
    images = await gemini(api).generate(GenerationRequest("x", count=2, seed=9), no_progress)
    assert [i.seed for i in images] == [9, 10]
    assert [b["generationConfig"]["seed"] for b in api.json_bodies()] == [9, 10]


async def test_img2img_sends_source_inline() -> None:
    api = FakeApi(reply(200, image_answer(PNG)))
    source = make_jpeg(30, 30)
    await gemini(api, model="custom-image-model").generate(
        GenerationRequest("x", source_image=source), no_progress
    )
    assert "/models/custom-image-model:generateContent" in str(api.requests[0].url)
    parts = api.json_bodies()[0]["contents"][0]["parts"]
    assert parts[1] == {"inline_data": {"mime_type": "image/jpeg", "data": b64(source)}}


async def test_prompt_block_is_safety_blocked() -> None:
    api = FakeApi(reply(200, {"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}}))
    with pytest.raises(SafetyBlocked) as info:
        await gemini(api).generate(GenerationRequest("x"), no_progress)
    assert not info.value.retryable
    assert "PROHIBITED_CONTENT" in info.value.detail


@pytest.mark.parametrize("reason", ["IMAGE_SAFETY", "SAFETY", "IMAGE_PROHIBITED_CONTENT"])
async def test_safety_finish_reason_is_safety_blocked(reason: str) -> None:
    body = {"candidates": [{"content": {"parts": []}, "finishReason": reason}]}
    with pytest.raises(SafetyBlocked):
        await gemini(FakeApi(reply(200, body))).generate(GenerationRequest("x"), no_progress)


async def test_text_only_answer_is_generation_failed() -> None:
    body = {
        "candidates": [
            {"content": {"parts": [{"text": "I can only describe it."}]}, "finishReason": "STOP"}
        ]
    }
    with pytest.raises(GenerationFailed) as info:
        await gemini(FakeApi(reply(200, body))).generate(GenerationRequest("x"), no_progress)
    assert "I can only describe it." in info.value.detail
    assert not info.value.retryable


def quota_error(quota_id: str, retry: str | None = None) -> dict[str, Any]:
    details: list[dict[str, Any]] = [
        {
            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            "violations": [
                {
                    "quotaMetric": "generativelanguage.googleapis.com/generate_content_requests",
                    "quotaId": quota_id,
                    "quotaValue": "100",
                }
            ],
        }
    ]
    if retry:
        details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry})
    return {
        "error": {
            "code": 429,
            "message": "You exceeded your current quota.",
            "status": "RESOURCE_EXHAUSTED",
            "details": details,
        }
    }


async def test_daily_quota_is_not_retryable() -> None:
    api = FakeApi(reply(429, quota_error("GenerateRequestsPerDayPerProjectPerModel-FreeTier")))
    with pytest.raises(QuotaExceeded) as info:
        await gemini(api).generate(GenerationRequest("x"), no_progress)
    assert info.value.daily
    assert not info.value.retryable
    assert info.value.code == "quota_exceeded_daily"
    assert "tomorrow" in info.value.message


async def test_per_minute_quota_is_retryable_with_delay() -> None:
    api = FakeApi(
        reply(429, quota_error("GenerateRequestsPerMinutePerProjectPerModel-FreeTier", "43s"))
    )
    with pytest.raises(QuotaExceeded) as info:
        await gemini(api).generate(GenerationRequest("x"), no_progress)
    assert info.value.retryable
    assert info.value.retry_after == 43


async def test_bare_429_uses_retry_after_header() -> None:
    body = {"error": {"code": 429, "message": "Resource exhausted", "status": "RESOURCE_EXHAUSTED"}}
    api = FakeApi(reply(429, body, headers={"Retry-After": "5"}))
    with pytest.raises(QuotaExceeded) as info:
        await gemini(api).generate(GenerationRequest("x"), no_progress)
    assert info.value.retryable
    assert info.value.retry_after == 5


@pytest.mark.parametrize(
    ("status", "body", "cls"),
    [
        (
            400,
            {
                "error": {
                    "code": 400,
                    "message": "API key not valid. Please pass a valid API key.",
                    "status": "INVALID_ARGUMENT",
                    "details": [
                        {
                            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                            "reason": "API_KEY_INVALID",
                        }
                    ],
                }
            },
            AuthFailed,
        ),
        (403, {"error": {"code": 403, "status": "PERMISSION_DENIED", "message": "no"}}, AuthFailed),
        (400, {"error": {"code": 400, "message": "Invalid JSON payload"}}, RequestRejected),
        (404, {"error": {"code": 404, "message": "models/x is not found"}}, RequestRejected),
        (500, {"error": {"code": 500, "message": "internal"}}, ProviderUnavailable),
        (
            503,
            [{"error": {"code": 503, "message": "The model is overloaded."}}],
            ProviderUnavailable,
        ),
    ],
)
async def test_http_errors(status: int, body: Any, cls: type[ProviderError]) -> None:
    with pytest.raises(cls):
        await gemini(FakeApi(reply(status, body))).generate(GenerationRequest("x"), no_progress)


@pytest.mark.parametrize(
    "body",
    [
        b"<html>oops</html>",
        {"candidates": []},
        {"candidates": ["nonsense"]},
        {
            "candidates": [
                {"content": {"parts": [{"inlineData": {"mimeType": "image/png", "data": "!!"}}]}}
            ]
        },
        {
            "candidates": [
                {
                    "content": {
                        "parts": [
                            {
                                "inlineData": {
                                    "mimeType": "image/png",
                                    "data": base64.b64encode(b"nope").decode(),
                                }
                            }
                        ]
                    }
                }
            ]
        },
    ],
    ids=["html", "no-candidates", "bad-candidate", "bad-base64", "not-an-image"],
)
async def test_malformed_responses(body: Any) -> None:
    with pytest.raises(BadResponse):
        await gemini(FakeApi(reply(200, body))).generate(GenerationRequest("x"), no_progress)


async def test_timeout_and_cancel() -> None:
    with pytest.raises(ProviderError) as info:
        await gemini(FakeApi(raise_error(httpx.ReadTimeout))).generate(
            GenerationRequest("x"), no_progress
        )
    assert info.value.code == "timeout"
    assert info.value.retryable
    started = asyncio.Event()
    provider = gemini(FakeApi(hang(started)))
    task = asyncio.create_task(provider.generate(GenerationRequest("x", job_id="g1"), no_progress))
    await started.wait()
    await provider.cancel("g1")
    with pytest.raises(Canceled):
        await task


async def test_model_name_cannot_escape_the_path() -> None:
    api = FakeApi(reply(200, image_answer(PNG)))
    with pytest.raises(InvalidRequest, match="model name"):
        await gemini(api).generate(GenerationRequest("x", model="../../v1/evil"), no_progress)
    assert api.requests == []


def test_config_requires_key() -> None:
    with pytest.raises(ValueError, match="API key"):
        GeminiConfig(api_key="")
