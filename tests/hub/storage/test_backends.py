"""Behaviour of the storage backends. Tests taking ``storage`` run against LocalStorage and against
S3Storage talking HTTP to a moto server, so both backends are held to the same contract."""

from __future__ import annotations

import asyncio
import io
import os
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from hub.settings import Settings
from hub.storage import (
    InvalidStorageKey,
    LocalStorage,
    ObjectNotFound,
    S3Storage,
    Storage,
    StorageUnavailable,
    build_zip,
    validate_key,
)
from hub.storage.component import open_storage
from tests.helpers import free_port
from tests.hub.storage.conftest import ACCESS_KEY, REGION, SECRET_KEY, make_s3_storage

BAD_KEYS = [
    "",
    "../escape.png",
    "a/../../escape.png",
    "a/..",
    "/etc/passwd",
    "a\\b.png",
    "..\\escape.png",
    "a\x00b.png",
    "a\nb.png",
    "a//b.png",
    "a/",
    "./a.png",
    ".hidden",
    "a/.tmp-123",
    "x" * 256,
    "a/" * 600 + "b",
]


async def _collect(storage: Storage, prefix: str = "") -> list[str]:
    return [key async for key in storage.list_keys(prefix)]


# --- shared behaviour --------------------------------------------------------------------------


async def test_put_then_get_returns_the_bytes(storage: Storage) -> None:
    await storage.put("works/1/a.png", b"\x89PNG-one", "image/png")
    assert await storage.get("works/1/a.png") == b"\x89PNG-one"
    assert await storage.exists("works/1/a.png")


async def test_put_twice_replaces_the_object(storage: Storage) -> None:
    await storage.put("a.bin", b"first version, longer", "application/octet-stream")
    await storage.put("a.bin", b"second", "application/octet-stream")
    assert await storage.get("a.bin") == b"second"
    assert await _collect(storage) == ["a.bin"]


async def test_missing_key_raises_not_found(storage: Storage) -> None:
    with pytest.raises(ObjectNotFound) as caught:
        await storage.get("nope/missing.png")
    assert caught.value.status == 404
    assert "nope" not in caught.value.message  # the layout stays private
    with pytest.raises(ObjectNotFound):
        await storage.open_stream("nope/missing.png")
    assert not await storage.exists("nope/missing.png")


async def test_stream_yields_chunks_and_metadata(storage: Storage) -> None:
    data = bytes(range(256)) * 1000  # 256 000 bytes
    await storage.put("big/blob.webp", data, "image/webp")
    stream = await storage.open_stream("big/blob.webp", chunk_size=64 * 1024)
    assert stream.size == len(data)
    assert stream.content_type == "image/webp"
    chunks = [chunk async for chunk in stream]
    assert b"".join(chunks) == data
    assert len(chunks) >= 4
    assert all(len(chunk) <= 64 * 1024 for chunk in chunks)


async def test_stream_closed_early_releases_the_source(storage: Storage) -> None:
    await storage.put("early.png", b"x" * 300_000, "image/png")
    async with await storage.open_stream("early.png", chunk_size=1024) as stream:
        first = await stream.__anext__()
        assert len(first) == 1024
    # Closed: iteration ends instead of reading a released file or connection.
    assert [chunk async for chunk in stream] == []
    # The backend still works (no leaked lock or exhausted pool).
    for _ in range(3):
        async with await storage.open_stream("early.png") as again:
            await again.__anext__()
    assert len(await storage.get("early.png")) == 300_000


async def test_stream_rejects_a_bad_chunk_size(storage: Storage) -> None:
    await storage.put("c.png", b"c", "image/png")
    with pytest.raises(ValueError, match="chunk_size"):
        await storage.open_stream("c.png", chunk_size=0)


async def test_delete_removes_and_is_idempotent(storage: Storage) -> None:
    await storage.put("gone/soon.png", b"1", "image/png")
    await storage.delete("gone/soon.png")
    assert not await storage.exists("gone/soon.png")
    with pytest.raises(ObjectNotFound):
        await storage.get("gone/soon.png")
    await storage.delete("gone/soon.png")  # already gone: not an error
    await storage.delete("never/existed.png")


async def test_list_keys_uses_string_prefixes_in_sorted_order(storage: Storage) -> None:
    keys = ["a/1.png", "a/2.png", "a-b.png", "ab.png", "b/c/d.png", "b/cd.png", "z.png"]
    for key in reversed(keys):
        await storage.put(key, key.encode(), "image/png")
    assert await _collect(storage) == sorted(keys)
    assert await _collect(storage, "a/") == ["a/1.png", "a/2.png"]
    assert await _collect(storage, "a") == ["a-b.png", "a/1.png", "a/2.png", "ab.png"]
    assert await _collect(storage, "b/c") == ["b/c/d.png", "b/cd.png"]
    assert await _collect(storage, "b/c/") == ["b/c/d.png"]
    assert await _collect(storage, "a/1") == ["a/1.png"]
    assert await _collect(storage, "missing/") == []
    assert await _collect(storage, "zz") == []


async def test_list_keys_after_delete(storage: Storage) -> None:
    for key in ("o/1.png", "o/2.png", "o/3.png"):
        await storage.put(key, b"x", "image/png")
    await storage.delete("o/2.png")
    assert await _collect(storage, "o/") == ["o/1.png", "o/3.png"]


async def test_unicode_keys_round_trip(storage: Storage) -> None:
    key = "作品/月光下的猫 1.png"
    await storage.put(key, b"cat", "image/png")
    assert await storage.get(key) == b"cat"
    assert await _collect(storage, "作品/") == [key]
    url = storage.url_for(key)
    assert url is None or "%E4%BD%9C%E5%93%81/" in url  # percent-encoded, "/" kept


async def test_bad_keys_are_rejected_everywhere(storage: Storage) -> None:
    # One test per backend looping over the cases: a fresh S3 client per case would cost seconds.
    await storage.put("inside/ok.png", b"ok", "image/png")
    for key in BAD_KEYS:
        with pytest.raises(InvalidStorageKey):
            await storage.put(key, b"evil", "image/png")
        with pytest.raises(InvalidStorageKey):
            await storage.get(key)
        with pytest.raises(InvalidStorageKey):
            await storage.open_stream(key)
        with pytest.raises(InvalidStorageKey):
            await storage.exists(key)
        with pytest.raises(InvalidStorageKey):
            await storage.delete(key)
        with pytest.raises(InvalidStorageKey):
            storage.url_for(key)
    assert await _collect(storage) == ["inside/ok.png"]
    assert await storage.get("inside/ok.png") == b"ok"


@pytest.mark.parametrize("key", BAD_KEYS)
def test_validate_key_rejects(key: str) -> None:
    with pytest.raises(InvalidStorageKey):
        validate_key(key)


@pytest.mark.parametrize("key", ["a.png", "a/b/c.webp", "作品/猫.png", "a..b/c", "x" * 255])
def test_validate_key_accepts(key: str) -> None:
    assert validate_key(key) == key


async def test_bad_prefixes_are_rejected(storage: Storage) -> None:
    for prefix in ["../", "/abs", "a\\", "a\x00", "a//", ".tmp", "a/../"]:
        with pytest.raises(InvalidStorageKey):
            await _collect(storage, prefix)


@pytest.mark.parametrize("content_type", ["", "image", "text/html\r\nX-Evil: 1", "a b/c"])
async def test_bad_content_types_are_rejected(storage: Storage, content_type: str) -> None:
    with pytest.raises(ValueError, match="content type"):
        await storage.put("ct.png", b"x", content_type)
    assert not await storage.exists("ct.png")


async def test_concurrent_puts_of_one_key_leave_one_whole_version(storage: Storage) -> None:
    versions = [bytes([n]) * 100_000 for n in range(8)]
    await asyncio.gather(*(storage.put("race.bin", v, "image/png") for v in versions))
    assert await storage.get("race.bin") in versions
    assert await _collect(storage) == ["race.bin"]


async def test_selection_zip_from_streams(storage: Storage) -> None:
    await storage.put("w/1.png", b"one", "image/png")
    await storage.put("w/2.png", b"two" * 50_000, "image/png")
    entries = [
        ("cat.png", await storage.open_stream("w/1.png")),
        ("cat.png", await storage.open_stream("w/2.png", chunk_size=4096)),
    ]
    async with await build_zip(entries) as archive:
        data = await archive.read()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.namelist() == ["cat.png", "cat (2).png"]
        assert zf.read("cat.png") == b"one"
        assert zf.read("cat (2).png") == b"two" * 50_000


# --- LocalStorage ------------------------------------------------------------------------------


async def test_local_write_failure_keeps_the_old_file(
    local_storage: LocalStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    await local_storage.put("keep/me.png", b"old", "image/png")

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="No space"):
        await local_storage.put("keep/me.png", b"new-but-never-complete", "image/png")
    monkeypatch.undo()
    assert await local_storage.get("keep/me.png") == b"old"
    assert sorted(p.name for p in (local_storage.root / "keep").iterdir()) == ["me.png"]


async def test_local_readers_never_see_a_partial_file(local_storage: LocalStorage) -> None:
    size = 400_000
    await local_storage.put("flip.bin", b"a" * size, "image/png")
    seen: set[bytes] = set()

    async def writer() -> None:
        for n in range(12):
            await local_storage.put("flip.bin", (b"b" if n % 2 else b"a") * size, "image/png")

    async def reader() -> None:
        for _ in range(40):
            data = await local_storage.get("flip.bin")
            assert len(data) == size
            assert data.count(data[:1]) == size, "mixed or partial content"
            seen.add(data[:1])

    await asyncio.gather(writer(), reader(), reader())
    assert seen <= {b"a", b"b"}


async def test_local_files_are_world_readable_and_hidden_files_unlisted(
    local_storage: LocalStorage,
) -> None:
    await local_storage.put("p/q.png", b"x", "image/png")
    umask = os.umask(0)
    os.umask(umask)
    path = local_storage.root / "p" / "q.png"
    assert path.stat().st_mode & 0o777 == 0o644 & ~umask
    # Leftovers of a crash and files from other tools are not keys.
    (local_storage.root / "p" / ".tmp-deadbeef").write_bytes(b"partial")
    (local_storage.root / ".DS_Store").write_bytes(b"junk")
    assert await _collect(local_storage) == ["p/q.png"]


async def test_local_directory_is_not_an_object(local_storage: LocalStorage) -> None:
    await local_storage.put("dir/file.png", b"x", "image/png")
    assert not await local_storage.exists("dir")
    with pytest.raises(ObjectNotFound):
        await local_storage.get("dir")
    with pytest.raises(ObjectNotFound):
        await local_storage.open_stream("dir")
    with pytest.raises(ObjectNotFound):
        await local_storage.get("dir/file.png/inner")


async def test_local_symlink_out_of_root_is_refused(
    local_storage: LocalStorage, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"secret")
    local_storage.root.mkdir(parents=True, exist_ok=True)
    (local_storage.root / "link").symlink_to(outside)
    with pytest.raises(InvalidStorageKey):
        await local_storage.get("link/secret.txt")
    with pytest.raises(InvalidStorageKey):
        await local_storage.put("link/new.txt", b"x", "text/plain")
    with pytest.raises(InvalidStorageKey):
        await local_storage.delete("link/secret.txt")
    assert (outside / "secret.txt").read_bytes() == b"secret"
    assert not (outside / "new.txt").exists()
    assert await _collect(local_storage) == []  # symlinks are not followed when listing
    assert await _collect(local_storage, "link/") == []


async def test_local_url_for(tmp_path: Path) -> None:
    assert LocalStorage(tmp_path).url_for("a b/c.png") == "/media/a%20b/c.png"
    assert LocalStorage(tmp_path, base_url="https://cdn.example/m/").url_for("x.png") == (
        "https://cdn.example/m/x.png"
    )
    assert LocalStorage(tmp_path, base_url=None).url_for("x.png") is None


async def test_local_stream_guesses_content_type(local_storage: LocalStorage) -> None:
    await local_storage.put("k.jpg", b"x", "image/jpeg")
    await local_storage.put("noext", b"x", "image/jpeg")
    async with await local_storage.open_stream("k.jpg") as s:
        assert s.content_type == "image/jpeg"
    async with await local_storage.open_stream("noext") as s:
        assert s.content_type == "application/octet-stream"


# --- S3Storage ---------------------------------------------------------------------------------


async def test_s3_presigned_url_downloads_the_object(s3_storage: S3Storage) -> None:
    await s3_storage.put("signed/pic.png", b"signed-bytes", "image/png")
    url = s3_storage.url_for("signed/pic.png")
    assert url is not None
    query = parse_qs(urlsplit(url).query)
    assert query["X-Amz-Expires"] == ["3600"]
    assert "X-Amz-Signature" in query
    assert urlsplit(url).path.endswith("/media/signed/pic.png")
    async with httpx.AsyncClient() as http:
        response = await http.get(url)
    assert response.status_code == 200
    assert response.content == b"signed-bytes"
    assert response.headers["content-type"] == "image/png"


async def test_s3_presigned_url_before_start(moto_endpoint: str, s3_bucket: str) -> None:
    storage = make_s3_storage(moto_endpoint, s3_bucket, presign_seconds=60)
    try:
        url = storage.url_for("x.png")
        assert url is not None
        assert parse_qs(urlsplit(url).query)["X-Amz-Expires"] == ["60"]
    finally:
        await storage.aclose()


async def test_s3_public_base_url_skips_signing(moto_endpoint: str, s3_bucket: str) -> None:
    storage = make_s3_storage(
        moto_endpoint, s3_bucket, prefix="/m/", public_base_url="https://cdn.example/"
    )
    try:
        assert storage.url_for("a b/c.png") == "https://cdn.example/m/a%20b/c.png"
    finally:
        await storage.aclose()


async def test_s3_prefix_isolates_and_is_stored(
    moto_endpoint: str, s3_bucket: str, s3_admin: Any
) -> None:
    one = make_s3_storage(moto_endpoint, s3_bucket, prefix="one")
    two = make_s3_storage(moto_endpoint, s3_bucket, prefix="two")
    try:
        await one.put("k.png", b"1", "image/png")
        await two.put("k.png", b"2", "image/png")
        assert await one.get("k.png") == b"1"
        assert await _collect(one) == ["k.png"]
        await one.delete("k.png")
        assert await two.get("k.png") == b"2"
        listed = s3_admin.list_objects_v2(Bucket=s3_bucket)["Contents"]
        assert [item["Key"] for item in listed] == ["two/k.png"]
        head = s3_admin.head_object(Bucket=s3_bucket, Key="two/k.png")
        assert head["ContentType"] == "image/png"
    finally:
        await one.aclose()
        await two.aclose()


async def test_s3_foreign_objects_with_invalid_keys_are_not_listed(
    s3_storage: S3Storage, s3_bucket: str, s3_admin: Any
) -> None:
    s3_admin.put_object(Bucket=s3_bucket, Key="media/ok.png", Body=b"1")
    s3_admin.put_object(Bucket=s3_bucket, Key="media/a//b.png", Body=b"1")
    s3_admin.put_object(Bucket=s3_bucket, Key="media/../up.png", Body=b"1")
    s3_admin.put_object(Bucket=s3_bucket, Key="elsewhere.png", Body=b"1")
    assert await _collect(s3_storage) == ["ok.png"]


async def test_s3_lists_across_pages(moto_endpoint: str, s3_bucket: str, s3_admin: Any) -> None:
    keys = [f"many/{n:02d}.png" for n in range(7)]
    for key in keys:
        s3_admin.put_object(Bucket=s3_bucket, Key=key, Body=b"")
    storage = make_s3_storage(moto_endpoint, s3_bucket, list_page_size=2)
    try:
        assert await _collect(storage, "many/") == keys
    finally:
        await storage.aclose()


async def test_s3_unreachable_endpoint_is_unavailable(s3_bucket: str) -> None:
    storage = make_s3_storage(
        f"http://127.0.0.1:{free_port()}", s3_bucket, connect_timeout=1, max_attempts=1
    )
    try:
        with pytest.raises(StorageUnavailable) as caught:
            await storage.put("x.png", b"x", "image/png")
        assert caught.value.status == 503
        with pytest.raises(StorageUnavailable):
            await _collect(storage)
    finally:
        await storage.aclose()


async def test_s3_missing_bucket_is_not_swallowed(moto_endpoint: str) -> None:
    from botocore.exceptions import ClientError  # type: ignore[import-untyped]

    storage = make_s3_storage(moto_endpoint, "hub-test-no-such-bucket")
    try:
        with pytest.raises(ClientError):
            await storage.put("x.png", b"x", "image/png")
    finally:
        await storage.aclose()


async def test_s3_closed_storage_refuses_work(moto_endpoint: str, s3_bucket: str) -> None:
    storage = make_s3_storage(moto_endpoint, s3_bucket)
    await storage.start()
    await storage.aclose()
    await storage.aclose()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        await storage.get("x.png")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"bucket": ""},
        {"presign_seconds": 0},
        {"presign_seconds": 8 * 24 * 3600},
        {"prefix": "../"},
        {"list_page_size": 0},
    ],
)
def test_s3_bad_configuration_is_rejected(kwargs: dict[str, Any]) -> None:
    config: dict[str, Any] = {"bucket": "b"} | kwargs
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        S3Storage(**config)


async def test_s3_async_context_manager(moto_endpoint: str, s3_bucket: str) -> None:
    async with make_s3_storage(moto_endpoint, s3_bucket) as storage:
        await storage.put("cm.png", b"ok", "image/png")
        assert await storage.get("cm.png") == b"ok"
    with pytest.raises(RuntimeError):
        await storage.exists("cm.png")


async def test_open_storage_creates_a_missing_bucket_once(
    moto_endpoint: str, s3_admin: Any
) -> None:
    # Scaled mode: every process opens the same bucket; the first creates it, the rest find it.
    bucket = f"hub-new-{os.urandom(6).hex()}"
    settings = Settings(
        s3_bucket=bucket,
        s3_endpoint_url=moto_endpoint,
        s3_region=REGION,
        s3_access_key_id=ACCESS_KEY,
        s3_secret_access_key=SECRET_KEY,
    )
    first, second = await asyncio.gather(open_storage(settings), open_storage(settings))
    try:
        s3_admin.head_bucket(Bucket=bucket)  # raises when it does not exist
        await first.put("works/a.png", b"png", "image/png")
        assert await second.get("works/a.png") == b"png"
    finally:
        await first.aclose()
        await second.aclose()
    again = await open_storage(settings)  # an existing bucket is used as it is
    try:
        assert await again.get("works/a.png") == b"png"
    finally:
        await again.aclose()


async def test_open_storage_starts_while_s3_is_unreachable() -> None:
    settings = Settings(
        s3_bucket="hub-media",
        s3_endpoint_url=f"http://127.0.0.1:{free_port()}",  # nothing listens there
        s3_access_key_id=ACCESS_KEY,
        s3_secret_access_key=SECRET_KEY,
    )
    # Media calls answer 503 until S3 is back (test_s3_unreachable_endpoint_is_unavailable);
    # everything else must start.
    storage = await asyncio.wait_for(open_storage(settings), timeout=20)
    assert isinstance(storage, S3Storage)
    await storage.aclose()
