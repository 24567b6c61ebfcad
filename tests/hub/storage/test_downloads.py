"""Downloading one image (attachment headers, RFC 5987 names) and a selection as a zip."""

from __future__ import annotations

import io
import zipfile
from typing import Any
from urllib.parse import unquote

import httpx
import pytest

from hub.storage import downloads
from tests.hub.storage.helpers import new_user, save_image


async def test_download_one_image_ascii_name(client: httpx.AsyncClient, ctx: Any) -> None:
    alice = await new_user(client, "alice")
    view = await save_image(ctx, alice, prompt='A "quoted" fox; at dawn/dusk')
    response = await client.get(view.download_url, headers=alice.headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.headers["content-length"] == str(len(response.content)) == str(view.bytes)
    assert response.content == (await client.get(view.url)).content
    disposition = response.headers["content-disposition"]
    expected = f"a-quoted-fox-at-dawn-dusk-{view.image_id[-8:]}.png"
    assert disposition == f'attachment; filename="{expected}"'
    assert response.headers["cache-control"] == "private, no-store"


async def test_download_non_ascii_name_uses_rfc5987(client: httpx.AsyncClient, ctx: Any) -> None:
    alice = await new_user(client, "alice")
    view = await save_image(ctx, alice, prompt="一只橘猫 Café")
    response = await client.get(view.download_url, headers=alice.headers)
    assert response.status_code == 200
    disposition = response.headers["content-disposition"]
    plain, star = disposition.split("; filename*=")
    name = f"一只橘猫-café-{view.image_id[-8:]}.png"
    assert star.startswith("UTF-8''")
    assert unquote(star.removeprefix("UTF-8''")) == name
    assert plain == f'attachment; filename="cafe-{view.image_id[-8:]}.png"'
    assert disposition.isascii()


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("fox.png", 'attachment; filename="fox.png"'),
        ('a"b\\c.png', "attachment; filename=\"a_b_c.png\"; filename*=UTF-8''a%22b%5Cc.png"),
        ("猫.png", "attachment; filename=\"download.png\"; filename*=UTF-8''%E7%8C%AB.png"),
        ("x\r\ny.zip", "attachment; filename=\"x_y.zip\"; filename*=UTF-8''x%0D%0Ay.zip"),
    ],
)
def test_attachment_header(filename: str, expected: str) -> None:
    assert downloads.attachment_header(filename) == expected


async def test_download_missing_file_is_404(client: httpx.AsyncClient, ctx: Any) -> None:
    alice = await new_user(client, "alice")
    view = await save_image(ctx, alice)
    await ctx.storage.delete(view.key)
    response = await client.get(view.download_url, headers=alice.headers)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_zip_of_a_selection(client: httpx.AsyncClient, ctx: Any) -> None:
    alice = await new_user(client, "alice")
    same = [await save_image(ctx, alice, prompt="twin") for _ in range(2)]
    other = await save_image(ctx, alice, prompt="../../evil\u202egnp.exe")
    ids = [same[0].image_id, other.image_id, same[1].image_id, same[0].image_id]
    response = await client.post(
        "/api/v1/images/download", json={"image_ids": ids}, headers=alice.headers
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["content-length"] == str(len(response.content))
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="images-')
    assert disposition.endswith('.zip"')
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        names = archive.namelist()
        assert len(names) == 3  # the repeated id is one file
        assert names[0] == f"twin-{same[0].image_id[-8:]}.png"
        assert names[2] == f"twin-{same[1].image_id[-8:]}.png"
        assert "/" not in names[1]
        assert "\u202e" not in names[1]
        assert ".." not in names[1]
        for name, view in zip(names, [same[0], other, same[1]], strict=True):
            assert archive.read(name) == (await client.get(view.url)).content
        assert archive.testzip() is None


async def test_zip_fails_whole_when_one_is_not_visible(client: httpx.AsyncClient, ctx: Any) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    mine = await save_image(ctx, alice)
    theirs = await save_image(ctx, bob)
    deleted = await save_image(ctx, alice)
    await client.delete(f"/api/v1/images/{deleted.image_id}", headers=alice.headers)
    ids = [mine.image_id, theirs.image_id, deleted.image_id, "nope"]
    response = await client.post(
        "/api/v1/images/download", json={"image_ids": ids}, headers=alice.headers
    )
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "not_found"
    assert error["details"]["missing"] == [theirs.image_id, deleted.image_id, "nope"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"image_ids": []},
        {"image_ids": [f"id-{n}" for n in range(101)]},
        {"image_ids": "abc"},
        {"image_ids": [""]},
        {"image_ids": ["x" * 65]},
        {"image_ids": [1, 2]},
        {"image_ids": ["a"], "extra": 1},
    ],
)
async def test_zip_bad_body_is_422(
    client: httpx.AsyncClient, ctx: Any, body: dict[str, Any]
) -> None:
    alice = await new_user(client, "alice")
    response = await client.post("/api/v1/images/download", json=body, headers=alice.headers)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_error"


async def test_zip_body_must_be_json(client: httpx.AsyncClient, ctx: Any) -> None:
    alice = await new_user(client, "alice")
    response = await client.post(
        "/api/v1/images/download", content=b"image_ids=1", headers=alice.headers
    )
    assert response.status_code == 415
    broken = await client.post(
        "/api/v1/images/download",
        content=b"{nope",
        headers={**alice.headers, "content-type": "application/json"},
    )
    assert broken.status_code == 400
    assert broken.json()["error"]["code"] == "invalid_json"


async def test_zip_of_a_missing_file_is_404_before_streaming(
    client: httpx.AsyncClient, ctx: Any
) -> None:
    alice = await new_user(client, "alice")
    kept = await save_image(ctx, alice)
    lost = await save_image(ctx, alice)
    await ctx.storage.delete(lost.key)
    response = await client.post(
        "/api/v1/images/download",
        json={"image_ids": [kept.image_id, lost.image_id]},
        headers=alice.headers,
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
