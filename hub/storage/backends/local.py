"""Media in a local directory: :class:`LocalStorage`."""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO
from urllib.parse import quote

from hub.storage.backends.base import (
    DEFAULT_CHUNK_SIZE,
    ObjectStream,
    check_content_type,
    guess_content_type,
    is_valid_key,
    validate_key,
    validate_prefix,
)
from hub.storage.errors import InvalidStorageKey, ObjectNotFound

_TMP_PREFIX = ".tmp-"


class LocalStorage:
    """Objects as files under ``root``; every file-system call runs in a worker thread.

    Writes go to a temporary file in the target directory, are flushed and ``fsync``-ed, then
    ``os.replace``-d over the final name, so a reader sees the old object or the new one, never a
    partial file, and a crash leaves at most a ``.tmp-*`` file (never listed, never a valid key).
    ``base_url`` is where the app (or a front web server) serves ``root``; ``None`` makes
    :meth:`url_for` return ``None`` so an authenticated route serves the bytes instead.
    Content types are not stored: :meth:`open_stream` guesses them from the key's extension.
    """

    def __init__(
        self, root: Path | str, base_url: str | None = "/media", *, fsync: bool = True
    ) -> None:
        self.root = Path(root).resolve()
        self.base_url = base_url.rstrip("/") if base_url is not None else None
        self._fsync = fsync

    def _path(self, key: str) -> Path:
        validate_key(key)
        return self.root.joinpath(*key.split("/"))

    def _confine(self, path: Path) -> Path:
        # Runs in the worker thread (resolve() touches the disk). Lexical validation already
        # forbids escapes; this catches a symlink planted inside the tree pointing out of it.
        if not path.resolve().is_relative_to(self.root):
            raise InvalidStorageKey(f"path resolves outside the storage root: {path}")
        return path

    # writes

    def _write(self, path: Path, data: bytes) -> None:
        for attempt in (1, 2):
            path.parent.mkdir(parents=True, exist_ok=True)
            self._confine(path.parent)
            tmp = path.with_name(f"{_TMP_PREFIX}{uuid.uuid4().hex}")
            try:
                # O_EXCL: never follow or reuse an existing name; 0o644 (not mkstemp's 0o600) so a
                # front web server running as another user can serve the media directory.
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileNotFoundError:
                if attempt == 2:
                    raise
                continue  # the directory vanished between mkdir and open (external cleanup)
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    if self._fsync:
                        os.fsync(fh.fileno())
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
                raise
            return

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        check_content_type(content_type)
        path = self._path(key)
        await asyncio.to_thread(self._write, path, bytes(data))

    # reads

    async def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return await asyncio.to_thread(lambda: self._confine(path).read_bytes())
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ObjectNotFound(key) from None

    def _open_file(self, path: Path) -> tuple[IO[bytes], int]:
        fh = self._confine(path).open("rb")
        try:
            st = os.fstat(fh.fileno())
            if not stat.S_ISREG(st.st_mode):  # a FIFO or device planted in the tree
                raise IsADirectoryError(str(path))
        except BaseException:
            fh.close()
            raise
        return fh, st.st_size

    async def open_stream(self, key: str, chunk_size: int = DEFAULT_CHUNK_SIZE) -> ObjectStream:
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        path = self._path(key)
        try:
            fh, size = await asyncio.to_thread(self._open_file, path)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ObjectNotFound(key) from None

        async def chunks() -> AsyncIterator[bytes]:
            while chunk := await asyncio.to_thread(fh.read, chunk_size):
                yield chunk

        async def close() -> None:
            await asyncio.to_thread(fh.close)

        return ObjectStream(chunks(), size=size, content_type=guess_content_type(key), close=close)

    async def exists(self, key: str) -> bool:
        path = self._path(key)
        return await asyncio.to_thread(lambda: self._confine(path).is_file())

    async def delete(self, key: str) -> None:
        path = self._path(key)
        # Empty directories are kept: removing them would race with a concurrent put into them.
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            await asyncio.to_thread(lambda: self._confine(path).unlink())

    # listing

    def _scan(self, directory: Path) -> list[tuple[str, bool]]:
        try:
            # The start directory comes from the prefix and may itself be a planted symlink.
            if not directory.resolve().is_relative_to(self.root):
                return []
            with os.scandir(directory) as entries:
                found = [
                    (entry.name, entry.is_dir(follow_symlinks=False))
                    for entry in entries
                    # Dot-names are never keys: temp files, .git, .DS_Store are skipped whole.
                    if not entry.name.startswith(".")
                    and not entry.is_symlink()
                    and (entry.is_dir() or entry.is_file())
                ]
        except (FileNotFoundError, NotADirectoryError):
            return []
        # Sorting "dir/" rather than "dir" makes the depth-first walk come out in the same global
        # byte order S3 uses ("a-b" < "a/x"), so both backends list identically.
        found.sort(key=lambda item: item[0] + "/" if item[1] else item[0])
        return found

    async def list_keys(self, prefix: str = "") -> AsyncIterator[str]:
        validate_prefix(prefix)
        # Start in the deepest directory the prefix names; the rest is matched as a string prefix.
        base = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        async for key in self._walk(base, prefix):
            yield key

    async def _walk(self, rel: str, prefix: str) -> AsyncIterator[str]:
        directory = self.root.joinpath(*rel.split("/")) if rel else self.root
        for name, is_dir in await asyncio.to_thread(self._scan, directory):
            key = f"{rel}/{name}" if rel else name
            if is_dir:
                if prefix.startswith(key + "/") or (key + "/").startswith(prefix):
                    async for sub_key in self._walk(key, prefix):
                        yield sub_key
            elif key.startswith(prefix) and is_valid_key(key):
                yield key

    def url_for(self, key: str) -> str | None:
        validate_key(key)
        if self.base_url is None:
            return None
        return f"{self.base_url}/{quote(key)}"

    async def aclose(self) -> None:
        return None
