"""Zip archives for "download a selection".

The archive is written entry by entry into a spooled temporary file (memory up to ``spool_bytes``,
then disk), reading each entry's stream chunk by chunk, so the selection is never held in memory
twice and memory stays bounded however large it is. Images are already compressed: entries are
stored, not deflated, which also keeps the CPU cost at a copy.

Build first with :func:`build_zip` (limits are checked and errors raised *before* a response has
started, and the final size is known for ``Content-Length``), then stream with
:meth:`ZipArchive.iter_chunks`.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import unicodedata
import zipfile
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hub.storage.errors import ArchiveTooLarge

DEFAULT_MAX_ARCHIVE_BYTES = 1 << 30  # well under zip's 4 GiB non-ZIP64 limit
DEFAULT_MAX_ENTRIES = 1000
DEFAULT_SPOOL_BYTES = 8 << 20
_MAX_NAME_BYTES = 150
_FORBIDDEN_NAME_CHARS = frozenset('<>:"/\\|?*')
_WINDOWS_RESERVED = frozenset(
    {"con", "prn", "aux", "nul"}
    | {f"com{i}" for i in range(1, 10)}
    | {f"lpt{i}" for i in range(1, 10)}
)


@dataclass(frozen=True, slots=True)
class ZipEntry:
    """One file of an archive: raw bytes or any async byte stream (e.g. an ``ObjectStream``)."""

    name: str
    content: bytes | AsyncIterable[bytes]
    modified: datetime | None = None


def _clean_name(raw: str) -> str:
    name = unicodedata.normalize("NFC", raw).replace("\\", "/").rsplit("/", 1)[-1]
    # Control and format characters (e.g. U+202E, which can disguise "gpj.exe" as "exe.jpg") and
    # characters Windows refuses in file names become "_".
    name = "".join(
        "_" if ch in _FORBIDDEN_NAME_CHARS or not ch.isprintable() else ch for ch in name
    )
    # No hidden files, and Windows silently strips trailing dots and spaces.
    name = name.strip(" ").lstrip(".").rstrip(". ")
    stem, ext = os.path.splitext(name)
    if not stem:
        stem, ext = (ext.lstrip(".") or "file"), ""
    if stem.split(".")[0].lower() in _WINDOWS_RESERVED:
        stem = f"_{stem}"
    if len(ext.encode("utf-8")) > 16:
        stem, ext = stem + ext, ""
    while len((stem + ext).encode("utf-8")) > _MAX_NAME_BYTES:
        stem = stem[:-1]
    return (stem.rstrip(". ") or "file") + ext


def safe_zip_names(names: Iterable[str]) -> list[str]:
    """Flat, portable, unique file names: ``a.png``, ``a (2).png``; case-insensitively unique."""
    used: set[str] = set()
    result: list[str] = []
    for raw in names:
        name = _clean_name(raw)
        stem, ext = os.path.splitext(name)
        candidate, counter = name, 2
        while candidate.casefold() in used:
            candidate = f"{stem} ({counter}){ext}"
            counter += 1
        used.add(candidate.casefold())
        result.append(candidate)
    return result


def _zip_time(moment: datetime | None) -> tuple[int, int, int, int, int, int]:
    # Zip has no time zone; UTC is the least surprising choice for files from a server.
    moment = (moment or datetime.now(UTC)).astimezone(UTC)
    moment = max(moment, datetime(1980, 1, 1, tzinfo=UTC))
    return (moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second)


class ZipArchive:
    """A finished archive in a spooled temporary file. Close it (or iterate to the end)."""

    def __init__(
        self, spool: tempfile.SpooledTemporaryFile[bytes], size: int, names: list[str]
    ) -> None:
        self._spool = spool
        self.size = size
        self.names = names

    async def iter_chunks(self, chunk_size: int = 64 * 1024) -> AsyncIterator[bytes]:
        """Yield the archive's bytes; the temporary file is closed when iteration stops."""
        try:
            await asyncio.to_thread(self._spool.seek, 0)
            while chunk := await asyncio.to_thread(self._spool.read, chunk_size):
                yield chunk
        finally:
            self.close()

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self.iter_chunks()])

    def close(self) -> None:
        self._spool.close()

    async def __aenter__(self) -> ZipArchive:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()


async def _close_source(content: Any) -> None:
    aclose = getattr(content, "aclose", None)
    if aclose is not None:
        await aclose()


async def build_zip(
    entries: Sequence[ZipEntry | tuple[str, bytes | AsyncIterable[bytes]]],
    *,
    max_bytes: int = DEFAULT_MAX_ARCHIVE_BYTES,
    max_entries: int = DEFAULT_MAX_ENTRIES,
    spool_bytes: int = DEFAULT_SPOOL_BYTES,
) -> ZipArchive:
    """Write ``entries`` into a zip archive with safe, unique names (see :func:`safe_zip_names`).

    Raises :class:`ArchiveTooLarge` (413) when there are more than ``max_entries`` entries or the
    archive would exceed ``max_bytes``; every stream given is closed either way.
    """
    items = [e if isinstance(e, ZipEntry) else ZipEntry(e[0], e[1]) for e in entries]
    if len(items) > max_entries:
        for item in items:
            await _close_source(item.content)
        raise ArchiveTooLarge(max_entries=max_entries)
    names = safe_zip_names(item.name for item in items)
    # Ownership passes to the returned ZipArchive, so no ``with`` here.
    spool: tempfile.SpooledTemporaryFile[bytes] = tempfile.SpooledTemporaryFile(  # noqa: SIM115
        max_size=spool_bytes, prefix="hub-zip-"
    )
    # Local headers, central directory entries and the end record (names counted twice).
    overhead = 22 + sum(30 + 46 + 2 * len(name.encode("utf-8")) for name in names)
    written = overhead
    pending = list(items)
    try:
        with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_STORED) as archive:
            for item, name in zip(items, names, strict=True):
                pending.remove(item)
                info = zipfile.ZipInfo(name, _zip_time(item.modified))
                info.compress_type = zipfile.ZIP_STORED
                if isinstance(item.content, bytes | bytearray | memoryview):
                    written += len(item.content)
                    if written > max_bytes:
                        raise ArchiveTooLarge(max_bytes=max_bytes)
                    await asyncio.to_thread(archive.writestr, info, bytes(item.content))
                    continue
                try:
                    # Stream sizes are unknown in advance: ZIP64 only if the limit exceeds 2 GiB.
                    zip64 = max_bytes > zipfile.ZIP64_LIMIT
                    with archive.open(info, "w", force_zip64=zip64) as member:
                        async for chunk in item.content:
                            written += len(chunk)
                            if written > max_bytes:
                                raise ArchiveTooLarge(max_bytes=max_bytes)
                            await asyncio.to_thread(member.write, chunk)
                finally:
                    await _close_source(item.content)
        size = await asyncio.to_thread(spool.tell)
    except BaseException:
        spool.close()
        for item in pending:
            await _close_source(item.content)
        raise
    return ZipArchive(spool, size, names)


async def zip_stream(
    entries: Sequence[ZipEntry | tuple[str, bytes | AsyncIterable[bytes]]],
    *,
    max_bytes: int = DEFAULT_MAX_ARCHIVE_BYTES,
    max_entries: int = DEFAULT_MAX_ENTRIES,
    chunk_size: int = 64 * 1024,
) -> AsyncIterator[bytes]:
    """Build the archive, then yield it. Errors surface on first iteration, i.e. after a
    ``StreamingResponse`` has sent its headers: prefer :func:`build_zip` in routes."""
    archive = await build_zip(entries, max_bytes=max_bytes, max_entries=max_entries)
    async for chunk in archive.iter_chunks(chunk_size):
        yield chunk
