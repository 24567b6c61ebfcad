"""Room addresses that cannot be slugs are 404 on every database, never a 500."""

from __future__ import annotations

import httpx
import pytest

from tests.helpers import BOTH_DATABASES


@BOTH_DATABASES
@pytest.mark.parametrize("slug", ["a%00b", "x" * 300, "a%20b", "%E2%98%83"])
async def test_impossible_room_slug_is_404(client: httpx.AsyncClient, slug: str) -> None:
    response = await client.get(f"/api/v1/rooms/{slug}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] in {"not_found", "room_not_found"}
