"""The library's service functions that the generation worker calls: saving generated images,
dropping orphans, and the periodic cleanup (on the local and the S3 backend)."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from PIL import Image as PILImage
from sqlalchemy import select
from sqlmodel import col

from hub.db import utcnow
from hub.storage import LocalStorage, S3Storage, Storage, cleanup, service
from hub.storage.images import read_png_metadata
from hub.storage.keys import media_id_time, media_url, new_media_id
from hub.storage.models import Image, Upload
from tests.hub.storage.conftest import make_s3_storage
from tests.hub.storage.helpers import User, image_bytes, image_row, new_user

DAY = timedelta(days=1)


async def _save(ctx: Any, storage: Storage, owner: User, **overrides: Any) -> Any:
    values: dict[str, Any] = {
        "owner_id": owner.user_id,
        "job_id": new_media_id(),
        "room_id": None,
        "index": 0,
        "data": image_bytes(),
        "mime": "image/png",
        "width": 64,
        "height": 48,
        "seed": 1,
        "model": "offline",
        "prompt": "a fox",
        "negative_prompt": "",
        "params": {},
    }
    values.update(overrides)
    async with ctx.db.unit_of_work() as session:
        return await service.save_generated_image(session, storage, **values)


async def _keys(storage: Storage, prefix: str = "") -> list[str]:
    return [key async for key in storage.list_keys(prefix)]


async def _live_ids(ctx: Any) -> set[str]:
    async with ctx.db.unit_of_work() as session:
        return set(
            await session.scalars(
                select(col(Image.image_id)).where(col(Image.deleted_at).is_(None))
            )
        )


# --- ids and urls --------------------------------------------------------------------------------


def test_media_ids_are_v7_and_carry_their_time() -> None:
    before = datetime.now(UTC) - timedelta(milliseconds=2)
    ids = [new_media_id() for _ in range(200)]
    after = datetime.now(UTC) + timedelta(milliseconds=2)
    assert len(set(ids)) == 200
    for media_id in ids:
        parsed = uuid.UUID(media_id)
        assert parsed.version == 7
        assert parsed.variant == uuid.RFC_4122
        made = media_id_time(media_id)
        assert made is not None
        assert before <= made <= after
    assert media_id_time(str(uuid.uuid4())) is None
    assert media_id_time("not-an-id") is None


def test_media_urls_never_expire() -> None:
    local = LocalStorage("/tmp/unused-media-root", base_url="/media")
    assert media_url(local, "images/a b.png") == "/media/images/a%20b.png"
    private = S3Storage(bucket="b", public_base_url=None)
    # A presigned URL would expire inside room events and avatar_url: go through /media instead.
    assert media_url(private, "avatars/1/x.webp") == "/media/avatars/1/x.webp"
    public = S3Storage(bucket="b", public_base_url="https://cdn.example.com/m")
    assert media_url(public, "avatars/1/x.webp") == "https://cdn.example.com/m/avatars/1/x.webp"


# --- save_generated_image ------------------------------------------------------------------------


async def test_save_writes_three_files_and_a_row(client: Any, ctx: Any) -> None:
    alice = await new_user(client, "alice")
    storage = ctx.storage
    jpeg = image_bytes("JPEG", (300, 100))
    view = await _save(
        ctx,
        storage,
        alice,
        job_id="job-1",
        room_id="den",
        index=2,
        data=jpeg,
        mime="image/jpeg",
        width=9999,  # the provider's claim; the stored file decides
        height=9999,
        seed=42,
        prompt="狐狸 in snow",
        negative_prompt="blur",
        params={"steps": 8},
    )
    base = f"images/job-1/2/{view.image_id}"
    assert sorted(await _keys(storage, "images/job-1/")) == [
        f"{base}-square.webp",
        f"{base}-thumb.webp",
        f"{base}.png",
    ]
    assert (view.key, view.width, view.height, view.mime) == (f"{base}.png", 300, 100, "image/png")
    original = await storage.get(view.key)
    meta = read_png_metadata(original)
    assert (meta.prompt, meta.negative_prompt) == ("狐狸 in snow", "blur")
    assert meta.parameters == {"steps": 8, "model": "offline", "seed": 42}
    thumb = PILImage.open(io.BytesIO(await storage.get(f"{base}-thumb.webp")))
    square = PILImage.open(io.BytesIO(await storage.get(f"{base}-square.webp")))
    assert (thumb.format, thumb.size) == ("WEBP", (300, 100))
    assert (square.format, square.size) == ("WEBP", (200, 200))
    row = await image_row(ctx, view.image_id)
    assert row is not None
    assert (row.owner_id, row.job_id, row.room_id, row.index) == (alice.user_id, "job-1", "den", 2)
    assert (row.bytes, row.seed, row.params) == (len(original), "42", {"steps": 8})


async def test_save_large_thumbnail_is_scaled_down(client: Any, ctx: Any) -> None:
    alice = await new_user(client, "alice")
    storage = ctx.storage
    view = await _save(ctx, storage, alice, data=image_bytes(size=(1024, 640)))
    thumb = PILImage.open(io.BytesIO(await storage.get(view.key.replace(".png", "-thumb.webp"))))
    assert thumb.size == (512, 320)


async def test_retried_job_replaces_the_earlier_attempts_image(client: Any, ctx: Any) -> None:
    alice = await new_user(client, "alice")
    storage = ctx.storage
    first = await _save(ctx, storage, alice, job_id="job-r", index=0)
    other_index = await _save(ctx, storage, alice, job_id="job-r", index=1)
    second = await _save(ctx, storage, alice, job_id="job-r", index=0)
    assert await _live_ids(ctx) == {second.image_id, other_index.image_id}
    replaced = await image_row(ctx, first.image_id)
    assert replaced is not None
    assert replaced.deleted_at is not None


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"data": b"not an image"}, ValueError),
        ({"index": -1}, ValueError),
        ({"seed": -5}, ValueError),
        ({"seed": 2**64}, ValueError),
        ({"job_id": "../escape"}, ValueError),
        ({"job_id": "a/b"}, ValueError),
        ({"job_id": "x" * 37}, ValueError),
    ],
)
async def test_save_refuses_bad_input_and_stores_nothing(
    client: Any, ctx: Any, overrides: dict[str, Any], error: type[Exception]
) -> None:
    alice = await new_user(client, "alice")
    storage = ctx.storage
    with pytest.raises(error):
        await _save(ctx, storage, alice, **overrides)
    assert await _keys(storage, "images/") == []
    assert await _live_ids(ctx) == set()


async def test_failed_transaction_leaves_only_orphan_files(client: Any, ctx: Any) -> None:
    alice = await new_user(client, "alice")
    storage = ctx.storage

    async def save_then_fail() -> None:
        async with ctx.db.unit_of_work() as session:
            await service.save_generated_image(
                session,
                storage,
                owner_id=alice.user_id,
                job_id="job-x",
                room_id=None,
                index=0,
                data=image_bytes(),
                mime="image/png",
                width=1,
                height=1,
                seed=1,
                model="m",
                prompt="p",
                negative_prompt="",
                params={},
            )
            raise RuntimeError("the job could not settle")

    with pytest.raises(RuntimeError):
        await save_then_fail()
    assert await _live_ids(ctx) == set()
    assert len(await _keys(storage, "images/job-x/")) == 3
    # Young orphans may belong to a save in progress: kept. Once old: deleted.
    kept = await cleanup.cleanup_orphans(ctx.db, storage, older_than=DAY)
    assert kept.files_deleted == 0
    swept = await cleanup.cleanup_orphans(ctx.db, storage, older_than=DAY, now=utcnow() + 2 * DAY)
    assert swept.files_deleted == 3
    assert await _keys(storage, "images/") == []


# --- delete_images_by_key (the worker's orphan sink) ---------------------------------------------


async def test_delete_images_by_key(client: Any, ctx: Any) -> None:
    alice = await new_user(client, "alice")
    storage = ctx.storage
    dropped = await _save(ctx, storage, alice, job_id="job-lost")
    kept = await _save(ctx, storage, alice, job_id="job-kept")
    await storage.put("steps/job-lost/0.txt", b"x", "text/plain")
    rowless = f"images/job-gone/0/{new_media_id()}-thumb.webp"
    await storage.put(rowless, b"x", "image/webp")
    keys = [
        dropped.key,
        rowless,
        "steps/job-lost/0.txt",
        "../not-a-key",
        kept.key.replace(".png", "-thumb.webp"),
    ]
    async with ctx.db.unit_of_work() as session:
        removed = await cleanup.delete_images_by_key(session, storage, [*keys, dropped.key])
    assert removed == 1
    assert await _live_ids(ctx) == {kept.image_id}
    assert await image_row(ctx, dropped.image_id) is None
    assert await _keys(storage, "images/job-lost/") == []
    assert await _keys(storage, "steps/") == []
    assert await _keys(storage, "images/job-gone/") == []
    # Only originals name rows, and files of images that stay are never deleted.
    assert len(await _keys(storage, "images/job-kept/")) == 3


async def test_delete_images_by_key_rolled_back_keeps_everything(client: Any, ctx: Any) -> None:
    alice = await new_user(client, "alice")
    storage = ctx.storage
    view = await _save(ctx, storage, alice)

    async def delete_then_fail() -> None:
        async with ctx.db.unit_of_work() as session:
            await cleanup.delete_images_by_key(session, storage, [view.key])
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await delete_then_fail()
    assert await _live_ids(ctx) == {view.image_id}
    assert len(await _keys(storage, "images/")) == 3


async def test_delete_keys_skips_invalid_keys(tmp_path: Any) -> None:
    storage = LocalStorage(tmp_path)
    await storage.put("a/b.png", b"1", "image/png")
    assert (
        await cleanup.delete_keys(storage, ["a/b.png", "/etc/passwd", "a/../b", "", "a/b.png"]) == 1
    )
    assert await _keys(storage) == []


# --- cleanup_orphans, on both backends -----------------------------------------------------------


@pytest.fixture(params=["local", "s3"])
async def backend(request: pytest.FixtureRequest, tmp_path: Any) -> Any:
    if request.param == "local":
        yield LocalStorage(tmp_path / "cleanup-media")
        return
    endpoint = request.getfixturevalue("moto_endpoint")
    bucket = request.getfixturevalue("s3_bucket")
    storage = make_s3_storage(endpoint, bucket)
    await storage.start()
    try:
        yield storage
    finally:
        await storage.aclose()


async def test_cleanup_orphans(client: Any, ctx: Any, backend: Storage) -> None:
    alice = await new_user(client, "alice")
    live = await _save(ctx, backend, alice, job_id="job-live")
    deleted = await _save(ctx, backend, alice, job_id="job-deleted")
    async with ctx.db.unit_of_work() as session:
        image = await session.get(Image, deleted.image_id)
        assert image is not None
        image.deleted_at = utcnow()
    # A file of a save that never committed, an upload whose row is gone, a live upload, and
    # files that are not named by this service (never touched).
    lost_id, lost_upload, live_upload = (new_media_id() for _ in range(3))
    lost_key = f"images/job-crash/0/{lost_id}.png"
    gone_upload_key = f"avatars/{alice.user_id}/{lost_upload}.webp"
    live_upload_key = f"uploads/{alice.user_id}/{live_upload}.png"
    foreign = ["images/readme.txt", "uploads/x/y.png", "other/thing.png"]
    for key in [lost_key, gone_upload_key, live_upload_key, *foreign]:
        await backend.put(key, b"data", "application/octet-stream")
    async with ctx.db.unit_of_work() as session:
        session.add(
            Upload(
                upload_id=live_upload,
                owner_id=alice.user_id,
                key=live_upload_key,
                purpose="source",
                mime="image/png",
                width=1,
                height=1,
                bytes=4,
            )
        )
    everything = set(await _keys(backend))

    # Within the grace period nothing goes, deleted image included.
    first = await cleanup.cleanup_orphans(ctx.db, backend, older_than=DAY)
    assert first == cleanup.CleanupResult(images_purged=0, files_deleted=0)
    assert set(await _keys(backend)) == everything
    assert await image_row(ctx, deleted.image_id) is not None

    later = utcnow() + 2 * DAY
    second = await cleanup.cleanup_orphans(ctx.db, backend, older_than=DAY, now=later)
    assert second.images_purged == 1
    assert second.files_deleted == 3 + 2
    assert await image_row(ctx, deleted.image_id) is None
    remaining = set(await _keys(backend))
    gone = {deleted.key, lost_key, gone_upload_key}
    assert remaining == everything - gone - {
        deleted.key.replace(".png", "-thumb.webp"),
        deleted.key.replace(".png", "-square.webp"),
    }
    assert live.key in remaining
    assert live_upload_key in remaining
    assert set(foreign) <= remaining

    # Idempotent.
    third = await cleanup.cleanup_orphans(ctx.db, backend, older_than=DAY, now=later)
    assert third == cleanup.CleanupResult(images_purged=0, files_deleted=0)


async def test_cleanup_works_in_batches(
    client: Any, ctx: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cleanup, "_BATCH", 2)
    alice = await new_user(client, "alice")
    storage = LocalStorage(tmp_path / "batch-media")
    views = [await _save(ctx, storage, alice, job_id=f"job-{n}") for n in range(5)]
    async with ctx.db.unit_of_work() as session:
        for view in views[:3]:
            image = await session.get(Image, view.image_id)
            assert image is not None
            image.deleted_at = utcnow()
    for _ in range(5):
        await storage.put(f"images/j/0/{new_media_id()}.png", b"x", "image/png")
    result = await cleanup.cleanup_orphans(ctx.db, storage, older_than=DAY, now=utcnow() + 2 * DAY)
    assert result == cleanup.CleanupResult(images_purged=3, files_deleted=9 + 5)
    assert sorted(await _keys(storage)) == sorted(
        k
        for v in views[3:]
        for k in (
            v.key,
            v.key.replace(".png", "-thumb.webp"),
            v.key.replace(".png", "-square.webp"),
        )
    )
