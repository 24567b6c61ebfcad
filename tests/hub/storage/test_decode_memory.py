"""Image decoding has a bounded memory cost: a small file that declares a huge picture is refused
from its header, and a real ``hub serve`` process that receives twenty uploads of the largest
picture it accepts, all at once, stays under 500 MB of resident memory."""

from __future__ import annotations

import asyncio
import io
import math
import struct
import threading
import time
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from hub.migrate import upgrade
from hub.settings import Settings
from hub.storage import images
from hub.storage.images import decoding, previews
from tests.helpers import free_port
from tests.hub.storage.helpers import new_user
from tests.processes import SERVE_ENV, HubProcess, hub_env

PEAK_LIMIT_KB = 500 * 1024


def blank_rgba_png(width: int, height: int) -> bytes:
    """A valid, fully decodable RGBA PNG of transparent black: a few hundred KB on the wire,
    ``4 * width * height`` bytes once decoded. Made row by row, never held decoded here."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload)
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    compressor = zlib.compressobj(9)
    row = b"\x00" * (1 + 4 * width)  # filter byte, then the pixels
    parts = [compressor.compress(row) for _ in range(height)]
    idat = b"".join(parts) + compressor.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


async def test_a_small_png_declaring_6300_square_pixels_is_refused(
    client: httpx.AsyncClient,
) -> None:
    data = blank_rgba_png(6300, 6300)
    assert len(data) < 200_000
    alice = await new_user(client, "alice")
    response = await client.post(
        "/api/v1/uploads", files={"file": ("bomb.png", data, "image/png")}, headers=alice.headers
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "upload_rejected"
    assert error["details"]["reason"] == "too_many_pixels"
    assert error["details"]["width"] == error["details"]["height"] == 6300
    assert error["details"]["max_pixels"] == Settings().upload_max_pixels


def test_previews_come_from_one_decode_and_match_the_separate_functions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    buffer = io.BytesIO()
    Image.new("RGBA", (1200, 600), (10, 200, 30, 255)).save(buffer, "PNG")
    data = buffer.getvalue()
    loads = 0
    original = decoding.load_upright

    def counting(image: Any, draft: Any) -> Any:
        nonlocal loads
        loads += 1
        return original(image, draft)

    monkeypatch.setattr(previews, "load_upright", counting)
    thumb, square = images.make_previews(data, thumb_side=512, square_side=200)
    assert loads == 1
    assert (thumb.width, thumb.height, square.width, square.height) == (512, 256, 200, 200)
    alone = images.make_thumbnail(data, 512), images.make_square(data, 200)
    assert [(i.width, i.height, i.format) for i in alone] == [
        (i.width, i.height, i.format) for i in (thumb, square)
    ]


def test_decode_slots_bound_concurrent_decodes(monkeypatch: pytest.MonkeyPatch) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (1, 2, 3)).save(buffer, "PNG")
    data = buffer.getvalue()
    active = peak = 0
    lock = threading.Lock()
    full = threading.Event()  # as many decodes running as the limit allows
    original = decoding.load_upright

    def slow(image: Any, draft: Any) -> Any:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
            if active >= images.decode_concurrency():
                full.set()
        # A decode that lasts until every slot is busy, and a little longer: without the
        # slots, the other threads would be inside too.
        full.wait(timeout=5)
        time.sleep(0.02)
        with lock:
            active -= 1
        return original(image, draft)

    monkeypatch.setattr(previews, "load_upright", slow)
    previous = images.decode_concurrency()
    try:
        for limit in (1, 3):
            images.set_decode_concurrency(limit)
            peak = 0
            full.clear()
            threads = [
                threading.Thread(target=images.make_thumbnail, args=(data, 16)) for _ in range(6)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=10)
            assert peak == limit
    finally:
        images.set_decode_concurrency(previous)
    with pytest.raises(ValueError, match="at least 1"):
        images.set_decode_concurrency(0)


def _peak_rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc status")


@pytest.fixture
async def hub_process(tmp_path: Path) -> AsyncIterator[HubProcess]:
    """``hub serve`` with the default image settings on a fresh SQLite file."""
    database_url = f"sqlite:///{tmp_path / 'hub.sqlite3'}"
    await asyncio.to_thread(upgrade, database_url.replace("sqlite:", "sqlite+aiosqlite:"))
    port = free_port()
    env = hub_env(database_url, tmp_path, **SERVE_ENV, HUB_PUBLIC_URL=f"http://127.0.0.1:{port}")
    env.pop("REDIS_URL", None)
    process = HubProcess.serve(env, tmp_path / "hub.log", port)
    try:
        await process.wait_ready()
        yield process
    finally:
        process.stop()


@pytest.mark.slow
async def test_twenty_uploads_of_the_largest_allowed_image_at_once_stay_under_500_mb(
    hub_process: HubProcess,
) -> None:
    base = hub_process.http_url
    side = math.isqrt(Settings().upload_max_pixels)  # the largest square the hub accepts
    data = blank_rgba_png(side, side)
    async with httpx.AsyncClient(
        base_url=base, headers={"origin": base}, timeout=httpx.Timeout(50.0)
    ) as http:
        alice = await new_user(http, "alice")
        responses = await asyncio.gather(
            *(
                http.post(
                    "/api/v1/uploads",
                    files={"file": (f"big-{n}.png", data, "image/png")},
                    headers=alice.headers,
                )
                for n in range(20)
            )
        )
    assert [r.status_code for r in responses] == [201] * 20, responses[0].text
    assert {(r.json()["width"], r.json()["height"]) for r in responses} == {(side, side)}
    peak = _peak_rss_kb(hub_process.process.pid)
    assert peak < PEAK_LIMIT_KB, f"peak RSS {peak / 1024:.0f} MB for 20 uploads of {side}px"
