"""The shared pieces: request validation, the error hierarchy, job tracking, HTTP helpers."""

from __future__ import annotations

import asyncio
import struct
import zlib
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
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    QuotaExceeded,
    RequestRejected,
    SafetyBlocked,
    validate_request,
)
from hub.generation.providers._common import (
    HttpResult,
    JobTracker,
    closest_aspect_ratio,
    closest_size,
    inspect_image,
    parse_data_url,
    retry_after_seconds,
    send,
    status_error,
)
from tests.helpers import eventually

from .support import make_jpeg, make_png


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"prompt": "   "}, "prompt is empty"),
        ({"prompt": "x" * 8001}, "8000 characters"),
        ({"width": 63}, "width must be between 64 and 2048"),
        ({"height": 2056}, "height must be between 64 and 2048"),
        ({"width": 500}, "width must be a multiple of 8"),
        ({"width": 512.0}, "width must be an integer"),
        ({"height": True}, "height must be an integer"),
        ({"count": 0}, "count must be between 1 and 8"),
        ({"count": 9}, "count must be between 1 and 8"),
        ({"steps": 0}, "Steps must be between 1 and 150"),
        ({"steps": 151}, "Steps must be between 1 and 150"),
        ({"seed": -1}, "seed must be a non-negative"),
        ({"seed": 2**63}, "seed must be a non-negative"),
        ({"strength": 1.5}, "Strength must be between 0 and 1"),
        ({"strength": float("nan")}, "Strength must be between 0 and 1"),
        ({"source_image": b""}, "source image is empty"),
    ],
)
def test_validate_request_rejects_bad_input_with_clear_message(
    fields: dict[str, Any], words: str
) -> None:
    request = GenerationRequest(**{"prompt": "a cat", **fields})
    with pytest.raises(InvalidRequest, match=words) as info:
        validate_request(request)
    assert isinstance(info.value, ValueError)


def test_validate_request_accepts_the_limits() -> None:
    validate_request(GenerationRequest("a cat", width=64, height=2048, count=8, steps=150))
    validate_request(GenerationRequest("a cat", strength=0), max_side=512)


def test_request_repr_leaves_out_image_bytes() -> None:
    request = GenerationRequest("a cat", source_image=b"\x89PNG" * 1000)
    assert "PNG" not in repr(request)


def test_error_hierarchy_retry_semantics() -> None:
    assert not SafetyBlocked("no").retryable
    assert QuotaExceeded("slow down", retry_after=3).retryable
    daily = QuotaExceeded("tomorrow", daily=True)
    assert not daily.retryable
    assert daily.code == "quota_exceeded_daily"
    assert not NoCredit("broke").retryable
    assert ProviderTimeout("slow").retryable
    assert not BadResponse("junk").retryable
    assert ProviderUnavailable("down").retryable
    assert not Canceled().retryable
    assert not AuthFailed("key").retryable
    assert not RequestRejected("bad").retryable
    for cls in (SafetyBlocked, NoCredit, ProviderTimeout, BadResponse, ProviderUnavailable):
        error = cls("message", detail="upstream words")
        assert isinstance(error, ProviderError)
        assert str(error) == "message"
        assert error.detail == "upstream words"
    assert {cls.default_code for cls in ProviderError.__subclasses__()} >= {
        "safety_blocked",
        "quota_exceeded",
        "no_credit",
        "timeout",
        "bad_response",
        "unavailable",
        "canceled",
    }


# --- JobTracker ------------------------------------------------------------------------------


async def test_job_tracker_turns_our_cancel_into_canceled() -> None:
    jobs = JobTracker()
    started = asyncio.Event()

    async def work() -> str:
        started.set()
        await asyncio.sleep(30)
        return "done"

    task = asyncio.create_task(jobs.run("job-1", work()))
    await started.wait()
    await jobs.cancel_and_wait("job-1")
    with pytest.raises(Canceled):
        await task


async def test_job_tracker_cancel_before_start_is_remembered() -> None:
    jobs = JobTracker()
    jobs.cancel("job-early")

    async def work() -> str:
        return "ran"

    with pytest.raises(Canceled):
        await jobs.run("job-early", work())
    assert await jobs.run("job-other", work()) == "ran"


async def test_job_tracker_caller_cancellation_stays_cancelled_error() -> None:
    jobs = JobTracker()
    started = asyncio.Event()
    inner_cancelled = asyncio.Event()

    async def work() -> None:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            inner_cancelled.set()
            raise

    task = asyncio.create_task(jobs.run("job-2", work()))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert inner_cancelled.is_set()


async def test_job_tracker_refuses_a_duplicate_running_job_id() -> None:
    jobs = JobTracker()
    gate = asyncio.Event()

    async def work() -> None:
        await gate.wait()

    first = asyncio.create_task(jobs.run("dup", work()))
    await eventually(lambda: jobs.is_running("dup"))

    async def other() -> None:
        return None

    with pytest.raises(InvalidRequest, match="already running"):
        await jobs.run("dup", other())
    gate.set()
    await first


# --- helpers ---------------------------------------------------------------------------------


def test_inspect_image_reads_png_and_jpeg() -> None:
    png = inspect_image(make_png(30, 20))
    assert (png.mime, png.width, png.height) == ("image/png", 30, 20)
    assert inspect_image(make_jpeg()).mime == "image/jpeg"


@pytest.mark.parametrize(
    "data",
    [b"", b"not an image", make_png()[:60], b"GIF89a" + b"\x00" * 20],
    ids=["empty", "text", "truncated", "gif"],
)
def test_inspect_image_rejects_non_images(data: bytes) -> None:
    with pytest.raises(ValueError, match="image"):
        inspect_image(data)


def _chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def test_inspect_image_rejects_huge_dimensions() -> None:
    # A PNG that claims 5000 x 4000 pixels (under Pillow's own bomb limit, over ours).
    ihdr = struct.pack(">IIBBBBB", 5000, 4000, 8, 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", b"") + _chunk(b"IEND", b"")
    with pytest.raises(ValueError, match="too large"):
        inspect_image(png, decode=False)
    with pytest.raises(ValueError, match="too large"):
        inspect_image(png)


def test_parse_data_url() -> None:
    png = make_png()
    import base64

    assert parse_data_url("data:image/png;base64," + base64.b64encode(png).decode(), "X") == png
    for bad in ("https://x/y.png", "data:text/plain;base64,aGk=", "data:image/png;base64,@@"):
        with pytest.raises(BadResponse):
            parse_data_url(bad, "X")


def test_closest_size_and_ratio() -> None:
    sizes = ("1024x1024", "1536x1024", "1024x1536")
    assert closest_size(512, 512, sizes) == "1024x1024"
    assert closest_size(768, 512, sizes) == "1536x1024"
    assert closest_size(512, 896, sizes) == "1024x1536"
    assert closest_size(640, 480, ()) == "640x480"
    ratios = ("1:1", "3:2", "16:9", "9:16")
    assert closest_aspect_ratio(1920, 1080, ratios) == "16:9"
    assert closest_aspect_ratio(512, 512, ratios) == "1:1"


def test_retry_after_header_forms() -> None:
    assert retry_after_seconds(httpx.Headers({"retry-after": "12"})) == 12
    assert retry_after_seconds(httpx.Headers({})) is None
    assert retry_after_seconds(httpx.Headers({"retry-after": "garbage"})) is None
    past = retry_after_seconds(httpx.Headers({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}))
    assert past == 0


@pytest.mark.parametrize(
    ("status", "cls", "retryable"),
    [
        (400, RequestRejected, False),
        (401, AuthFailed, False),
        (403, AuthFailed, False),
        (402, NoCredit, False),
        (408, ProviderTimeout, True),
        (429, QuotaExceeded, True),
        (500, ProviderUnavailable, True),
        (503, ProviderUnavailable, True),
        (504, ProviderTimeout, True),
    ],
)
def test_status_error_mapping(status: int, cls: type[ProviderError], retryable: bool) -> None:
    error = status_error(HttpResult(status, httpx.Headers(), b""), "X", "detail")
    assert type(error) is cls
    assert error.retryable is retryable


def test_status_error_unknown_status_is_final() -> None:
    error = status_error(HttpResult(418, httpx.Headers(), b""), "X", "teapot")
    assert error.code == "http_418"
    assert not error.retryable


async def test_send_refuses_oversized_responses() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"x" * 5000)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(BadResponse, match="too large"):
            await send(client, "GET", "http://test/big", "X", max_bytes=1000)
        assert (await send(client, "GET", "http://test/big", "X", max_bytes=5000)).status == 200


async def test_send_maps_transport_failures() -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(timeout)) as client:
        with pytest.raises(ProviderTimeout):
            await send(client, "GET", "http://test/", "X")
    async with httpx.AsyncClient(transport=httpx.MockTransport(refused)) as client:
        with pytest.raises(ProviderUnavailable):
            await send(client, "GET", "http://test/", "X")
