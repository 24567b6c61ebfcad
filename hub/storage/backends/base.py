"""What every storage backend shares: the key rules, content types, :class:`ObjectStream` and the
:class:`Storage` protocol.

Keys are ``/``-separated relative paths such as ``works/ab/abcdef.png``; :func:`validate_key`
defines what is accepted, identically for every backend, so a key that works in development also
works against S3 and never escapes the media root.
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol, runtime_checkable

from hub.storage.errors import InvalidStorageKey

DEFAULT_CHUNK_SIZE = 64 * 1024
MAX_KEY_BYTES = 1024  # S3's own limit
MAX_SEGMENT_BYTES = 255  # common file-system limit for one path component
_CONTENT_TYPE_RE = re.compile(r"^[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+(\s*;[ -~]*)?$")


# --- keys --------------------------------------------------------------------------------------


def _check_segments(value: str, what: str, *, allow_trailing_slash: bool) -> None:
    if "\\" in value:
        raise InvalidStorageKey(f"{what} must not contain backslashes: {value!r}")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise InvalidStorageKey(f"{what} must not contain NUL or control characters: {value!r}")
    if value.startswith("/"):
        raise InvalidStorageKey(f"{what} must be relative: {value!r}")
    if len(value.encode("utf-8")) > MAX_KEY_BYTES:
        raise InvalidStorageKey(f"{what} is longer than {MAX_KEY_BYTES} bytes")
    body = value[:-1] if allow_trailing_slash and value.endswith("/") else value
    for segment in body.split("/"):
        if not segment:
            raise InvalidStorageKey(f"{what} has an empty path segment: {value!r}")
        # A leading dot covers "." and "..", and also keeps the namespace of our temp files and of
        # hidden files (".DS_Store", ".git") out of the key space.
        if segment.startswith("."):
            raise InvalidStorageKey(f"{what} segments must not start with '.': {value!r}")
        if len(segment.encode("utf-8")) > MAX_SEGMENT_BYTES:
            raise InvalidStorageKey(f"{what} segment longer than {MAX_SEGMENT_BYTES} bytes")


def validate_key(key: str) -> str:
    """Return ``key`` if it is a safe object key, else raise :class:`InvalidStorageKey`.

    Rules: non-empty, relative, ``/``-separated, no empty/``.``/``..``/dot-prefixed segments, no
    backslashes, no NUL or control characters, at most 1024 UTF-8 bytes (255 per segment).
    """
    if not isinstance(key, str) or not key:
        raise InvalidStorageKey("key must be a non-empty string")
    _check_segments(key, "key", allow_trailing_slash=False)
    return key


def validate_prefix(prefix: str) -> str:
    """Like :func:`validate_key` but also allows ``""`` and a trailing ``/``."""
    if prefix == "":
        return prefix
    if not isinstance(prefix, str):
        raise InvalidStorageKey("prefix must be a string")
    _check_segments(prefix, "prefix", allow_trailing_slash=True)
    return prefix


def is_valid_key(key: str) -> bool:
    """Whether :func:`validate_key` accepts ``key``; listings skip the files it refuses (our
    temporary files, objects written by other tools)."""
    try:
        validate_key(key)
    except InvalidStorageKey:
        return False
    return True


def check_content_type(content_type: str) -> str:
    if not _CONTENT_TYPE_RE.match(content_type):
        raise ValueError(f"not a valid content type: {content_type!r}")
    return content_type


def guess_content_type(key: str) -> str:
    guessed, _ = mimetypes.guess_type(key, strict=False)
    return guessed or "application/octet-stream"


# --- streams -----------------------------------------------------------------------------------


class ObjectStream:
    """The bytes of one object, read lazily in chunks.

    Returned by :meth:`Storage.open_stream` *after* the object was found, so a route can answer 404
    before it starts a response. The underlying file or HTTP body is released when iteration ends,
    fails, or :meth:`aclose` is called (also usable as ``async with``); ``StreamingResponse`` can
    consume it directly.
    """

    def __init__(
        self,
        chunks: AsyncIterator[bytes],
        *,
        size: int | None,
        content_type: str,
        close: Callable[[], Awaitable[None]],
    ) -> None:
        self.size = size
        self.content_type = content_type
        self._chunks = chunks
        self._close = close
        self._closed = False

    def __aiter__(self) -> ObjectStream:
        return self

    async def __anext__(self) -> bytes:
        if self._closed:
            raise StopAsyncIteration
        try:
            return await self._chunks.__anext__()
        except BaseException:
            await self.aclose()
            raise

    async def read(self) -> bytes:
        """Read everything that is left and close."""
        return b"".join([chunk async for chunk in self])

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._close()

    async def __aenter__(self) -> ObjectStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


# --- protocol ----------------------------------------------------------------------------------


@runtime_checkable
class Storage(Protocol):
    """A flat key → bytes store. Every method validates its key first (``InvalidStorageKey``)."""

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store ``data`` under ``key``, replacing any previous object atomically."""

    async def get(self, key: str) -> bytes:
        """Return the whole object; raise :class:`ObjectNotFound` if absent."""

    async def open_stream(self, key: str, chunk_size: int = DEFAULT_CHUNK_SIZE) -> ObjectStream:
        """Open the object for chunked reading; raise :class:`ObjectNotFound` if absent."""

    async def delete(self, key: str) -> None:
        """Remove the object; deleting a missing key is not an error."""

    async def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key``."""

    def list_keys(self, prefix: str = "") -> AsyncIterator[str]:
        """Yield every key starting with ``prefix`` (plain string prefix), in sorted order."""

    def url_for(self, key: str) -> str | None:
        """A URL a browser can fetch the object from, or ``None`` if the app must serve it."""

    async def aclose(self) -> None:
        """Release clients and connections; the instance is unusable afterwards."""
