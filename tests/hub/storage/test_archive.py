"""Zip archives for "download a selection"."""

from __future__ import annotations

import io
import zipfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from hub.storage import ArchiveTooLarge, ZipEntry, build_zip, safe_zip_names, zip_stream


class TrackedStream:
    """An async byte stream that records whether it was closed."""

    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = list(chunks)
        self.closed = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        if self.closed or not self._chunks:
            raise StopAsyncIteration
        return self._chunks.pop(0)

    async def aclose(self) -> None:
        self.closed = True


def unzip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        return {name: archive.read(name) for name in archive.namelist()}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("cat.png", "cat.png"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\cat.png", "cat.png"),
        ("works/12/猫.png", "猫.png"),
        (".bashrc", "bashrc"),
        ("...", "file"),
        ("", "file"),
        ("con.txt", "_con.txt"),
        ("LPT1", "_LPT1"),
        ("a:b*c?.png", "a_b_c_.png"),
        ("tab\there.png", "tab_here.png"),
        ("invoice\u202egnp.exe", "invoice_gnp.exe"),  # right-to-left override defused
        ("trailing. ", "trailing"),
        ("x" * 300 + ".png", "x" * 146 + ".png"),
    ],
)
def test_names_are_made_safe(raw: str, expected: str) -> None:
    assert safe_zip_names([raw]) == [expected]


def test_names_are_unique_case_insensitively() -> None:
    names = ["a.png", "A.png", "a.png", "dir/a.png", "a (2).png", "b"]
    assert safe_zip_names(names) == [
        "a.png",
        "A (2).png",
        "a (3).png",
        "a (4).png",
        "a (2) (2).png",
        "b",
    ]


async def test_archive_of_bytes_and_streams() -> None:
    stream = TrackedStream([b"chunk-1|", b"chunk-2"])
    when = datetime(2026, 5, 4, 3, 2, 1, tzinfo=UTC)
    entries: list[ZipEntry | tuple[str, bytes]] = [
        ZipEntry("first.png", b"\x89PNG data", modified=when),
        ZipEntry("月光/猫.png", stream),
        ("../first.png", b"dup"),
    ]
    archive = await build_zip(entries)
    assert archive.names == ["first.png", "猫.png", "first (2).png"]
    data = await archive.read()
    assert archive.size == len(data)
    assert unzip(data) == {
        "first.png": b"\x89PNG data",
        "猫.png": b"chunk-1|chunk-2",
        "first (2).png": b"dup",
    }
    assert stream.closed
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        info = zf.getinfo("first.png")
        assert info.date_time == (2026, 5, 4, 3, 2, 0)  # zip stores even seconds
        assert info.compress_type == zipfile.ZIP_STORED
        assert zf.getinfo("猫.png").flag_bits & 0x800  # UTF-8 name flag


async def test_archive_spills_to_disk_and_stays_correct() -> None:
    big = bytes(range(256)) * 4096  # 1 MiB
    archive = await build_zip(
        [("a.bin", big), ("b.bin", TrackedStream([big[:500_000], big[500_000:]]))],
        spool_bytes=64 * 1024,
    )
    chunks = [chunk async for chunk in archive.iter_chunks(chunk_size=100_000)]
    assert max(len(c) for c in chunks) <= 100_000
    assert unzip(b"".join(chunks)) == {"a.bin": big, "b.bin": big}


async def test_archive_over_the_byte_limit_is_refused_and_closes_streams() -> None:
    first, second, third = (TrackedStream([b"x" * 600]) for _ in range(3))
    with pytest.raises(ArchiveTooLarge) as caught:
        await build_zip([("1", first), ("2", second), ("3", third)], max_bytes=1000)
    assert caught.value.status == 413
    assert caught.value.to_dict()["error"]["code"] == "payload_too_large"
    assert (first.closed, second.closed, third.closed) == (True, True, True)


async def test_archive_over_the_byte_limit_with_bytes_entries() -> None:
    with pytest.raises(ArchiveTooLarge):
        await build_zip([("1", b"x" * 600), ("2", b"y" * 600)], max_bytes=1000)


async def test_archive_with_too_many_entries_is_refused() -> None:
    streams = [TrackedStream([b"x"]) for _ in range(4)]
    with pytest.raises(ArchiveTooLarge) as caught:
        await build_zip([(f"{n}.png", s) for n, s in enumerate(streams)], max_entries=3)
    assert caught.value.details == {"max_entries": 3}
    assert all(s.closed for s in streams)


async def test_failing_stream_aborts_and_closes_the_rest() -> None:
    class Broken(TrackedStream):
        async def __anext__(self) -> bytes:
            raise OSError("connection reset")

    broken, later = Broken([]), TrackedStream([b"later"])
    with pytest.raises(OSError, match="reset"):
        await build_zip([("ok", b"ok"), ("broken", broken), ("later", later)])
    assert broken.closed
    assert later.closed


async def test_zip_stream_yields_the_archive() -> None:
    data = b"".join([c async for c in zip_stream([("x.txt", b"hello")], chunk_size=10)])
    assert unzip(data) == {"x.txt": b"hello"}


async def test_empty_selection_is_a_valid_empty_zip() -> None:
    archive = await build_zip([])
    assert unzip(await archive.read()) == {}
