"""Path traversal on media: ``/media/{key}`` (and the other routes that take a file name) never
serve a file outside the media store, never reveal one, and never fail with a 5xx.

The requests are written on the socket byte for byte, so no client library normalises ``..`` or
percent-escapes away before the server sees them. Outside the media directory sit a secret file,
the SQLite database and, inside it, a symlink pointing out of it (docs/storage.md: keys are
checked lexically and after resolving symlinks). The same corpus runs against the S3 backend,
where ``/media/{key}`` redirects to a presigned URL.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from hub.settings import Settings
from tests.hub.storage.conftest import (
    ACCESS_KEY,
    REGION,
    SECRET_KEY,
    moto_endpoint,
    s3_admin,
    s3_bucket,
)
from tests.live import LiveServer, serve_test_hub
from tests.security.conftest import Site

pytestmark = pytest.mark.slow

__all__ = ["moto_endpoint", "s3_admin", "s3_bucket"]  # the storage tests' moto fixtures

TRAVERSALS = (
    "../secret.txt",
    "../hub.sqlite3",
    "../../../../../../etc/passwd",
    "..%2fsecret.txt",
    "%2e%2e/secret.txt",
    "%2e%2e%2fsecret.txt",
    ".%2e/secret.txt",
    "..%252fsecret.txt",
    "....//secret.txt",
    "..\\secret.txt",
    "..%5csecret.txt",
    "images/../../secret.txt",
    "images/%2e%2e/%2e%2e/secret.txt",
    "/../secret.txt",
    "%2f..%2fsecret.txt",
    "//etc/passwd",
    "%2fetc%2fpasswd",
    "..%c0%afsecret.txt",
    "%c0%ae%c0%ae/secret.txt",
    "%00../secret.txt",
    "secret.txt%00.png",
    "escape/secret.txt",
    "escape/hub.sqlite3",
    ".escape/secret.txt",
)
LEAKS = (b"root:x:0:0", b"SQLite format 3", b"TOP-SECRET")


async def raw_get(port: int, target: str) -> tuple[int, bytes]:
    """``GET target`` exactly as written; (status, head and body)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        request = f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        writer.write(request.encode("latin-1"))
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    return int(answer.split(b" ", 2)[1]), answer


def _plant_secrets(settings: Settings) -> None:
    data = Path(settings.data_dir)
    (data / "secret.txt").write_bytes(b"TOP-SECRET " + uuid.uuid4().hex.encode())
    media = Path(settings.media_dir)
    media.mkdir(parents=True, exist_ok=True)
    (media / "escape").symlink_to(data, target_is_directory=True)


async def _attack(port: int, prefixes: tuple[str, ...]) -> list[str]:
    wrong = []
    for prefix in prefixes:
        for path in TRAVERSALS:
            target = prefix + path
            status, answer = await raw_get(port, target)
            if status >= 500 or status == 200 or any(leak in answer for leak in LEAKS):
                wrong.append(f"GET {target}: {status} {answer[:200]!r}")
    return wrong


async def test_media_paths_never_leave_the_store(site: Site) -> None:
    """Every traversal of the corpus under ``/media/``, ``/api/v1/images/`` and ``/static/``
    answers 4xx and no leaked bytes (a secret file, the database, /etc/passwd), through a
    symlink out of the media directory too; a real key is served (the control). About 3 s."""
    _plant_secrets(site.ctx.settings)
    port = site.live.port
    status, answer = await raw_get(port, f"/media/{site.params['key']}")
    assert status == 200
    assert b"\r\n\r\n\x89PNG" in answer
    wrong = await _attack(port, ("/media/", "/api/v1/images/", "/static/"))
    status, _ = await raw_get(port, f"/api/v1/images/{site.params['image_id']}/download")
    assert status == 401  # signed out: the download route is there, and refuses
    assert wrong == [], "\n".join(wrong)


@pytest.fixture
async def s3_live(
    settings: Settings, moto_endpoint: str, s3_bucket: str
) -> AsyncIterator[LiveServer]:
    s3: dict[str, Any] = {
        "s3_bucket": s3_bucket,
        "s3_endpoint_url": moto_endpoint,
        "s3_region": REGION,
        "s3_access_key_id": ACCESS_KEY,
        "s3_secret_access_key": SecretStr(SECRET_KEY),
    }
    async with serve_test_hub(settings, **s3) as server:
        yield server


async def test_s3_media_paths_never_leave_the_bucket(
    s3_live: LiveServer, moto_endpoint: str, s3_bucket: str
) -> None:
    """The corpus under ``/media/`` with the S3 backend: no 5xx, no leaked bytes, and a
    redirect only to a presigned URL inside the bucket (a key that passes the store's rules
    names an object of the bucket, existing or not). About 2 s."""
    bucket = f"location: {moto_endpoint}/{s3_bucket}/".encode()
    wrong = []
    for path in TRAVERSALS:
        status, answer = await raw_get(s3_live.port, "/media/" + path)
        leaked = any(leak in answer for leak in LEAKS)
        elsewhere = status == 307 and bucket not in answer.lower()
        if status >= 500 or status == 200 or leaked or elsewhere:
            wrong.append(f"GET /media/{path}: {status} {answer[:200]!r}")
    assert wrong == [], "\n".join(wrong)
