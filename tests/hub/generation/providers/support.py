"""Helpers for the provider tests: tiny real images and a progress recorder."""

from __future__ import annotations

import asyncio
import base64
import io
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from PIL import Image

from hub.generation.providers import Progress


def make_png(
    width: int = 64, height: int = 48, color: tuple[int, int, int] = (200, 40, 40)
) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buf, "PNG")
    return buf.getvalue()


def make_jpeg(
    width: int = 64, height: int = 48, color: tuple[int, int, int] = (40, 40, 200)
) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buf, "JPEG")
    return buf.getvalue()


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@dataclass
class Recorder:
    """A progress callback that keeps every event."""

    events: list[Progress] = field(default_factory=list)

    async def __call__(self, progress: Progress) -> None:
        self.events.append(progress)

    @property
    def steps(self) -> list[tuple[int, int]]:
        return [(p.step, p.total) for p in self.events]

    @property
    def previews(self) -> list[bytes]:
        return [p.preview for p in self.events if p.preview is not None]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


Handler = Callable[[httpx.Request], Awaitable[httpx.Response]]


@dataclass
class FakeApi:
    """An httpx transport that answers with ``handler`` and keeps every request it saw."""

    handler: Handler
    requests: list[httpx.Request] = field(default_factory=list)

    @property
    def transport(self) -> httpx.MockTransport:
        async def record(request: httpx.Request) -> httpx.Response:
            await request.aread()
            self.requests.append(request)
            return await self.handler(request)

        return httpx.MockTransport(record)

    def json_bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests if r.content.startswith(b"{")]


def reply(status: int, body: Any = None, **kwargs: Any) -> Handler:
    """A handler that always answers ``status`` with ``body`` (JSON unless bytes/str)."""

    async def handler(_request: httpx.Request) -> httpx.Response:
        if isinstance(body, bytes | str):
            return httpx.Response(status, content=body, **kwargs)
        return httpx.Response(status, json=body, **kwargs)

    return handler


def raise_error(exc_type: type[httpx.TransportError]) -> Handler:
    async def handler(request: httpx.Request) -> httpx.Response:
        raise exc_type("simulated", request=request)

    return handler


def hang(started: asyncio.Event) -> Handler:
    """A handler that never answers (until cancelled)."""

    async def handler(_request: httpx.Request) -> httpx.Response:
        started.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    return handler
