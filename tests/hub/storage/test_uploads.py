"""Uploads and avatars through HTTP: what is accepted, what is refused (and then nothing is
stored), and what other domains can do with an upload."""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any

import httpx
import pytest
from PIL import Image as PILImage

from hub.errors import NotFound
from hub.storage import service
from hub.storage.images import read_png_metadata
from hub.storage.models import Upload
from tests.hub.accounts.helpers import signed_up
from tests.hub.storage.helpers import (
    User,
    image_bytes,
    new_user,
    save_image,
    stored_keys,
    upload_count,
)


def _files(data: bytes, name: str = "photo.png", content_type: str = "image/png") -> Any:
    return {"file": (name, data, content_type)}


async def _upload(
    client: httpx.AsyncClient, user: User, data: bytes, **form: str
) -> httpx.Response:
    return await client.post(
        "/api/v1/uploads", files=_files(data), data=form or None, headers=user.headers
    )


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels (a decompression bomb)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload)
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


async def _nothing_stored(ctx: Any) -> None:
    assert await upload_count(ctx) == 0
    assert await stored_keys(ctx, "uploads/") == []
    assert await stored_keys(ctx, "avatars/") == []


# --- accepted ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "mime", "ext"),
    [("PNG", "image/png", "png"), ("JPEG", "image/jpeg", "jpg"), ("WEBP", "image/webp", "webp")],
)
async def test_upload_source_image(
    client: httpx.AsyncClient, ctx: Any, fmt: str, mime: str, ext: str
) -> None:
    alice = await new_user(client, "alice")
    response = await _upload(client, alice, image_bytes(fmt, (120, 80)))
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["width"], body["height"], body["mime"], body["purpose"]) == (
        120,
        80,
        mime,
        "source",
    )
    assert body["key"] == f"uploads/{alice.user_id}/{body['upload_id']}.{ext}"
    served = await client.get(body["url"])
    assert served.status_code == 200
    assert served.headers["content-type"] == mime
    assert body["bytes"] == len(served.content)
    async with ctx.db.unit_of_work() as session:
        row = await session.get(Upload, body["upload_id"])
        assert row is not None
        assert (row.owner_id, row.key, row.purpose) == (alice.user_id, body["key"], "source")
        # What the generation domain calls for img2img: by id, and the bytes by key.
        assert (await service.access_upload(session, _actor(alice), body["upload_id"])).key == body[
            "key"
        ]
        data = await service.load_image_bytes(session, ctx.storage, body["key"])
        assert data == served.content


async def test_upload_strips_metadata(client: httpx.AsyncClient, ctx: Any) -> None:
    alice = await new_user(client, "alice")
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "gps 52.1 4.3")
    buffer = io.BytesIO()
    PILImage.new("RGB", (32, 32), (1, 2, 3)).save(buffer, "PNG", pnginfo=info)
    response = await _upload(client, alice, buffer.getvalue())
    assert response.status_code == 201
    stored = (await client.get(response.json()["url"])).content
    assert read_png_metadata(stored).text == {}


async def test_upload_with_session_cookie_and_csrf_field(
    client: httpx.AsyncClient, ctx: Any
) -> None:
    csrf = await signed_up(client, "dora")
    form = {"csrf_token": csrf, "purpose": "source"}
    response = await client.post("/api/v1/uploads", files=_files(image_bytes()), data=form)
    assert response.status_code == 201, response.text
    refused = await client.post("/api/v1/uploads", files=_files(image_bytes()))
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "csrf_failed"
    assert await upload_count(ctx) == 1


# --- refused -------------------------------------------------------------------------------------


def _gif() -> bytes:
    buffer = io.BytesIO()
    PILImage.new("RGB", (8, 8)).save(buffer, "GIF")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "bad_format"),
        (b"hello, I am text", "bad_format"),
        (_gif(), "bad_format"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", "bad_format"),
        (image_bytes()[:60], "corrupt"),
        (_png_claiming(50_000, 50_000), "too_many_pixels"),
    ],
    ids=["empty", "text", "gif", "svg", "truncated", "bomb"],
)
async def test_bad_upload_is_rejected_and_nothing_stored(
    client: httpx.AsyncClient, ctx: Any, data: bytes, reason: str
) -> None:
    alice = await new_user(client, "alice")
    for path in ("/api/v1/uploads", "/api/v1/me/avatar"):
        response = await client.post(path, files=_files(data), headers=alice.headers)
        assert response.status_code == 422, (path, response.text)
        error = response.json()["error"]
        assert error["code"] == "upload_rejected"
        assert error["details"]["reason"] == reason
    await _nothing_stored(ctx)
    me = (await client.get("/api/v1/me", headers=alice.headers)).json()
    assert me["avatar_url"].endswith("/avatar.svg")


async def test_upload_over_the_pixel_limit_is_rejected(client: httpx.AsyncClient, ctx: Any) -> None:
    ctx.settings.upload_max_pixels = 1000
    alice = await new_user(client, "alice")
    response = await _upload(client, alice, image_bytes(size=(40, 40)))
    assert response.status_code == 422
    assert response.json()["error"]["details"]["reason"] == "too_many_pixels"
    await _nothing_stored(ctx)


async def test_upload_over_the_byte_limit_is_rejected(client: httpx.AsyncClient, ctx: Any) -> None:
    # The body limit middleware answers first for a body larger than the limit ...
    alice = await new_user(client, "alice")
    big = image_bytes() + b"\x00" * ctx.settings.max_upload_bytes
    response = await _upload(client, alice, big)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    # ... and the validator for a file that fits the body but not the image limit.
    ctx.settings.max_upload_bytes = 100
    response = await _upload(client, alice, image_bytes(size=(64, 64)))
    assert response.status_code == 422
    assert response.json()["error"]["details"]["reason"] == "too_large"
    await _nothing_stored(ctx)


async def test_upload_form_errors(client: httpx.AsyncClient, ctx: Any) -> None:
    alice = await new_user(client, "alice")
    h = alice.headers
    missing = await client.post("/api/v1/uploads", data={"purpose": "source"}, headers=h)
    # An urlencoded form is the wrong content type for a file.
    assert missing.status_code == 415
    no_file = await client.post(
        "/api/v1/uploads", files={"other": ("a.png", image_bytes(), "image/png")}, headers=h
    )
    assert no_file.status_code == 422
    assert no_file.json()["error"]["code"] == "validation_error"
    assert no_file.json()["error"]["details"]["fields"][0]["field"] == "file"
    as_text = await client.post(
        "/api/v1/uploads",
        files={"file": (None, "not a file"), "x": ("a.png", b"", "image/png")},
        headers=h,
    )
    assert as_text.status_code == 422
    bad_purpose = await _upload(client, alice, image_bytes(), purpose="banner")
    assert bad_purpose.status_code == 422
    assert bad_purpose.json()["error"]["details"]["fields"][0]["field"] == "purpose"
    as_json = await client.post("/api/v1/uploads", json={"file": "abc"}, headers=h)
    assert as_json.status_code == 415
    assert as_json.json()["error"]["code"] == "unsupported_media_type"
    two_files = await client.post(
        "/api/v1/uploads",
        files=[
            ("file", ("a.png", image_bytes(), "image/png")),
            ("file", ("b.png", image_bytes(), "image/png")),
        ],
        headers=h,
    )
    assert two_files.status_code == 400
    garbled = await client.post(
        "/api/v1/uploads",
        content=b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\nab',
        headers={**h, "content-type": "multipart/form-data; boundary=xyz"},
    )
    assert garbled.status_code in (400, 422)
    await _nothing_stored(ctx)


async def test_upload_needs_sign_in(client: httpx.AsyncClient, ctx: Any) -> None:
    response = await client.post("/api/v1/uploads", files=_files(image_bytes()))
    assert response.status_code == 401
    await _nothing_stored(ctx)


async def test_uploads_are_rate_limited(client: httpx.AsyncClient, ctx: Any) -> None:
    ctx.settings.rate_limit_upload = "2/minute"
    alice = await new_user(client, "alice")
    for _ in range(2):
        assert (await _upload(client, alice, image_bytes())).status_code == 201
    third = await _upload(client, alice, image_bytes())
    assert third.status_code == 429
    assert third.json()["error"]["code"] == "rate_limited"
    assert int(third.headers["retry-after"]) >= 1
    assert await upload_count(ctx) == 2


# --- access for img2img --------------------------------------------------------------------------


def _actor(user: User) -> Any:
    from hub.accounts.actor import Actor
    from hub.accounts.roles import UserRole

    return Actor(user.user_id, user.username, user.username, UserRole.USER, "api_token")


async def test_access_upload_and_source_keys_are_owner_only(
    client: httpx.AsyncClient, ctx: Any
) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    upload = (await _upload(client, alice, image_bytes())).json()
    image = await save_image(ctx, alice)
    storage = ctx.storage
    async with ctx.db.unit_of_work() as session:
        for ref in (upload["upload_id"], upload["key"]):
            assert await service.access_source_key(session, _actor(alice), ref) == upload["key"]
        for ref in (image.image_id, image.key):
            assert await service.access_source_key(session, _actor(alice), ref) == image.key
        for ref in (upload["upload_id"], upload["key"], image.image_id, image.key):
            with pytest.raises(NotFound):
                await service.access_source_key(session, _actor(bob), ref)
        with pytest.raises(NotFound):
            await service.access_upload(session, _actor(bob), upload["upload_id"])
        thumb_key = image.key.replace(".png", "-thumb.webp")
        for ref in ("nope", "x" * 40, "users/1/secret.png", thumb_key, "../etc/passwd"):
            with pytest.raises(NotFound):
                await service.access_source_key(session, _actor(alice), ref)
            with pytest.raises(NotFound):
                await service.load_image_bytes(session, storage, ref)
        assert (await service.load_image_bytes(session, storage, image.image_id))[:8] == (
            b"\x89PNG\r\n\x1a\n"
        )


# --- avatars -------------------------------------------------------------------------------------


async def test_set_and_replace_avatar(client: httpx.AsyncClient, ctx: Any) -> None:
    alice = await new_user(client, "alice")
    first = await client.post(
        "/api/v1/me/avatar", files=_files(image_bytes("JPEG", (300, 120))), headers=alice.headers
    )
    assert first.status_code == 200, first.text
    first_url = first.json()["avatar_url"]
    assert first_url.startswith(f"/media/avatars/{alice.user_id}/")
    picture = await client.get(first_url)
    assert picture.status_code == 200
    assert picture.headers["content-type"] == "image/webp"
    assert PILImage.open(io.BytesIO(picture.content)).size == (256, 256)
    profile = (await client.get("/api/v1/users/alice")).json()
    assert profile["avatar_url"] == first_url

    second = await client.post(
        "/api/v1/me/avatar", files=_files(image_bytes("PNG", (64, 64))), headers=alice.headers
    )
    assert second.status_code == 200
    second_url = second.json()["avatar_url"]
    assert second_url != first_url
    assert (await client.get(first_url)).status_code == 404  # the old picture is gone
    assert len(await stored_keys(ctx, "avatars/")) == 1
    assert await upload_count(ctx) == 1

    cleared = await client.delete("/api/v1/me/avatar", headers=alice.headers)
    assert cleared.status_code == 200
    assert cleared.json()["avatar_url"] == "/api/v1/users/alice/avatar.svg"
    assert await stored_keys(ctx, "avatars/") == []
    assert await upload_count(ctx) == 0


async def test_avatar_purpose_on_uploads_sets_the_avatar(
    client: httpx.AsyncClient, ctx: Any
) -> None:
    alice = await new_user(client, "alice")
    response = await _upload(client, alice, image_bytes(size=(90, 200)), purpose="avatar")
    assert response.status_code == 201
    body = response.json()
    assert (body["purpose"], body["width"], body["height"]) == ("avatar", 256, 256)
    me = (await client.get("/api/v1/me", headers=alice.headers)).json()
    assert me["avatar_url"] == body["url"]


async def test_avatar_needs_sign_in(client: httpx.AsyncClient, ctx: Any) -> None:
    assert (await client.post("/api/v1/me/avatar", files=_files(image_bytes()))).status_code == 401
    assert (await client.delete("/api/v1/me/avatar")).status_code == 401
    await _nothing_stored(ctx)
