"""OpenAI-compatible images API (and Seedream) against a fake that follows the documented shapes."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from hub.generation.providers import (
    AuthFailed,
    BadResponse,
    Canceled,
    GenerationRequest,
    InvalidRequest,
    NoCredit,
    OpenAIImagesConfig,
    OpenAIImagesProvider,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    QuotaExceeded,
    RequestRejected,
    SafetyBlocked,
    no_progress,
    seedream_config,
)
from hub.generation.providers.openai_images import api_root

from .support import FakeApi, Recorder, b64, hang, make_jpeg, make_png, raise_error, reply

PNG = make_png(96, 64)


def openai(api: FakeApi, **config: Any) -> OpenAIImagesProvider:
    settings: dict[str, Any] = {"api_key": "sk-test", "base_url": "https://api.test"}
    settings.update(config)
    return OpenAIImagesProvider(OpenAIImagesConfig(**settings), transport=api.transport)


def images_ok(*images: bytes) -> dict[str, Any]:
    return {"created": 1, "data": [{"b64_json": b64(image)} for image in images]}


async def test_generation_success_gpt_image(recorder: Recorder) -> None:
    api = FakeApi(reply(200, images_ok(PNG)))
    provider = openai(api)
    request = GenerationRequest("a red fox", negative_prompt="blurry", width=768, height=512)
    images = await provider.generate(request, recorder)

    assert [(i.mime, i.width, i.height, i.seed) for i in images] == [("image/png", 96, 64, 0)]
    assert images[0].data == PNG
    assert recorder.steps == [(0, 1), (1, 1)]
    sent = api.requests[0]
    assert str(sent.url) == "https://api.test/v1/images/generations"
    assert sent.headers["authorization"] == "Bearer sk-test"
    body = json.loads(sent.content)
    assert body["model"] == "gpt-image-1"
    assert body["size"] == "1536x1024"  # nearest size the model accepts
    assert body["prompt"] == "a red fox\n\nAvoid: blurry"
    assert "response_format" not in body  # gpt-image rejects it; it always answers base64
    assert "watermark" not in body
    await provider.aclose()


async def test_count_is_split_by_max_images_per_call_and_seeds_follow() -> None:
    calls: list[int] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        n = json.loads(request.content).get("n", 1)
        calls.append(n)
        return httpx.Response(
            200, json=images_ok(*[make_png(8 * (len(calls) + i), 8) for i in range(n)])
        )

    api = FakeApi(handler)
    provider = openai(api, max_images_per_call=2, model="dall-e-2")
    recorder = Recorder()
    images = await provider.generate(GenerationRequest("x", seed=7, count=3), recorder)
    assert calls == [2, 1]
    assert [i.seed for i in images] == [7, 8, 9]
    assert recorder.steps == [(0, 3), (2, 3), (3, 3)]
    assert api.json_bodies()[0]["response_format"] == "b64_json"
    assert api.json_bodies()[0]["size"] == "512x512"


async def test_url_results_are_fetched_without_our_credentials() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "cdn.test":
            return httpx.Response(200, content=make_jpeg(40, 30))
        return httpx.Response(200, json={"data": [{"url": "https://cdn.test/out/1.jpg"}]})

    api = FakeApi(handler)
    images = await openai(api, model="dall-e-3").generate(GenerationRequest("x"), no_progress)
    assert (images[0].mime, images[0].width) == ("image/jpeg", 40)
    fetch = api.requests[1]
    assert fetch.url.host == "cdn.test"
    assert "authorization" not in fetch.headers


async def test_img2img_uses_multipart_edits() -> None:
    api = FakeApi(reply(200, images_ok(PNG)))
    source = make_jpeg(50, 50)
    request = GenerationRequest("make it blue", source_image=source, count=2)
    await openai(api).generate(request, no_progress)
    sent = api.requests[0]
    assert str(sent.url) == "https://api.test/v1/images/edits"
    assert sent.headers["content-type"].startswith("multipart/form-data")
    assert source in sent.content
    assert b'name="prompt"' in sent.content
    assert b"make it blue" in sent.content
    assert b'name="n"\r\n\r\n2' in sent.content
    assert b'filename="source.jpeg"' in sent.content


async def test_seedream_sends_watermark_false_seed_and_inline_image() -> None:
    api = FakeApi(reply(200, {"model": "m", "data": [{"b64_json": b64(PNG), "size": "96x64"}]}))
    config = seedream_config("ark-key", base_url="https://ark.test/api")
    provider = OpenAIImagesProvider(config, transport=api.transport)
    source = make_png(20, 20)
    images = await provider.generate(
        GenerationRequest("x", seed=5, count=2, width=1024, height=1024, source_image=source),
        no_progress,
    )
    assert [i.seed for i in images] == [5, 6]
    assert [str(r.url) for r in api.requests] == ["https://ark.test/api/v3/images/generations"] * 2
    first, second = api.json_bodies()
    assert first["watermark"] is False
    assert (first["seed"], second["seed"]) == (5, 6)
    assert first["response_format"] == "b64_json"
    assert first["size"] == "1024x1024"
    assert first["image"] == "data:image/png;base64," + b64(source)
    assert "n" not in first
    assert api.requests[0].headers["authorization"] == "Bearer ark-key"


@pytest.mark.parametrize(
    ("status", "body", "cls", "retryable"),
    [
        (
            400,
            {"error": {"code": "content_policy_violation", "message": "rejected by safety system"}},
            SafetyBlocked,
            False,
        ),
        (
            400,
            {"error": {"code": "moderation_blocked", "type": "image_generation_user_error"}},
            SafetyBlocked,
            False,
        ),
        (
            400,
            {"error": {"code": "OutputImageSensitiveContentDetected", "message": "sensitive"}},
            SafetyBlocked,
            False,
        ),
        (400, {"error": {"code": "invalid_size", "message": "bad size"}}, RequestRejected, False),
        (
            401,
            {"error": {"code": "invalid_api_key", "message": "Incorrect API key"}},
            AuthFailed,
            False,
        ),
        (403, {"error": {"message": "Project does not have access"}}, AuthFailed, False),
        (429, {"error": {"code": "rate_limit_exceeded", "message": "slow"}}, QuotaExceeded, True),
        (
            429,
            {"error": {"code": "insufficient_quota", "type": "insufficient_quota"}},
            NoCredit,
            False,
        ),
        (403, {"error": {"code": "AccountOverdueError", "message": "overdue"}}, NoCredit, False),
        (500, {"error": {"message": "server error"}}, ProviderUnavailable, True),
        (503, "<html>bad gateway</html>", ProviderUnavailable, True),
        (500, "[" * 100_000 + "]" * 100_000, ProviderUnavailable, True),  # deep: not read
    ],
)
async def test_http_errors_map_to_the_hierarchy(
    status: int, body: Any, cls: type[ProviderError], retryable: bool
) -> None:
    provider = openai(FakeApi(reply(status, body)))
    with pytest.raises(cls) as info:
        await provider.generate(GenerationRequest("x"), no_progress)
    assert info.value.retryable is retryable
    assert info.value.message.startswith(("OpenAI", "The OpenAI"))


async def test_rate_limit_carries_retry_after() -> None:
    provider = openai(
        FakeApi(reply(429, {"error": {"message": "slow"}}, headers={"Retry-After": "7"}))
    )
    with pytest.raises(QuotaExceeded) as info:
        await provider.generate(GenerationRequest("x"), no_progress)
    assert info.value.retry_after == 7
    assert not info.value.daily


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[1, 2]",
        {"data": []},
        {"data": [{"revised_prompt": "no image"}]},
        {"data": [{"b64_json": "%%%not-base64"}]},
        {"data": [{"b64_json": b64(b"plain text, not an image")}]},
        {"data": [{"url": "ftp://files.test/x.png"}]},
        b"[" * 100_000 + b"]" * 100_000,  # plain json.loads raises RecursionError
    ],
    ids=[
        "broken-json",
        "json-list",
        "empty-data",
        "no-image",
        "bad-b64",
        "not-image",
        "ftp-url",
        "deep-json",
    ],
)
async def test_malformed_responses_are_bad_response(body: Any) -> None:
    provider = openai(FakeApi(reply(200, body)))
    with pytest.raises(BadResponse) as info:
        await provider.generate(GenerationRequest("x"), no_progress)
    assert not info.value.retryable


async def test_failed_url_download() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "cdn.test":
            return httpx.Response(404)
        return httpx.Response(200, json={"data": [{"url": "https://cdn.test/gone.png"}]})

    with pytest.raises(BadResponse, match="could not be downloaded"):
        await openai(FakeApi(handler)).generate(GenerationRequest("x"), no_progress)


async def test_transport_timeout_and_connection_errors() -> None:
    with pytest.raises(ProviderTimeout):
        await openai(FakeApi(raise_error(httpx.ReadTimeout))).generate(
            GenerationRequest("x"), no_progress
        )
    with pytest.raises(ProviderUnavailable):
        await openai(FakeApi(raise_error(httpx.ConnectError))).generate(
            GenerationRequest("x"), no_progress
        )


async def test_real_socket_timeout() -> None:
    """A server that accepts and never answers: the configured timeout fires for real."""

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        await asyncio.sleep(5)
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    provider = OpenAIImagesProvider(
        OpenAIImagesConfig(api_key="k", base_url=f"http://127.0.0.1:{port}", timeout=0.3)
    )
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(ProviderTimeout):
            await provider.generate(GenerationRequest("x"), no_progress)
        assert loop.time() - started < 3
    finally:
        await provider.aclose()
        server.close()
        await server.wait_closed()


async def test_cancel_drops_the_request() -> None:
    started = asyncio.Event()
    provider = openai(FakeApi(hang(started)))
    task = asyncio.create_task(provider.generate(GenerationRequest("x", job_id="j1"), no_progress))
    await started.wait()
    await provider.cancel("j1")
    with pytest.raises(Canceled):
        await task


async def test_bad_source_image_is_invalid_request() -> None:
    api = FakeApi(reply(200, images_ok(PNG)))
    with pytest.raises(InvalidRequest, match="source image"):
        await openai(api).generate(GenerationRequest("x", source_image=b"junk"), no_progress)
    assert api.requests == []


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="http"):
        OpenAIImagesConfig(base_url="file:///etc/passwd")
    with pytest.raises(ValueError, match="WIDTHxHEIGHT"):
        OpenAIImagesConfig(sizes=("big",))
    with pytest.raises(ValueError, match="max_images_per_call"):
        OpenAIImagesConfig(max_images_per_call=0)


@pytest.mark.parametrize(
    ("base", "prefix", "root"),
    [
        ("https://api.openai.com", "/v1", "https://api.openai.com/v1"),
        ("https://api.openai.com/v1/", "/v1", "https://api.openai.com/v1"),
        (
            "https://ark.cn-beijing.volces.com/api",
            "/api/v3",
            "https://ark.cn-beijing.volces.com/api/v3",
        ),
        (
            "https://ark.cn-beijing.volces.com",
            "/api/v3",
            "https://ark.cn-beijing.volces.com/api/v3",
        ),
        ("https://proxy.test/openai", "/v1", "https://proxy.test/openai/v1"),
    ],
)
def test_api_root_joins_without_doubling(base: str, prefix: str, root: str) -> None:
    assert api_root(base, prefix) == root
