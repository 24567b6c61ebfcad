"""/media serves what the storage backend holds, and nothing outside it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx


async def test_media_serves_a_stored_object(client: httpx.AsyncClient, ctx: Any) -> None:
    await ctx.storage.put("images/a/b.png", b"\x89PNG-bytes", "image/png")
    response = await client.get("/media/images/a/b.png")
    assert response.status_code == 200
    assert response.content == b"\x89PNG-bytes"
    assert response.headers["content-type"] == "image/png"


async def test_media_missing_is_404_with_error_shape(client: httpx.AsyncClient) -> None:
    response = await client.get("/media/images/none.png")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_media_rejects_traversal(client: httpx.AsyncClient, tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("no")
    for path in ("/media/../secret.txt", "/media/%2e%2e/secret.txt", "/media/.hidden"):
        response = await client.get(path)
        assert response.status_code == 404, path
