"""Where media bytes live: a local directory or an S3-compatible bucket.

Both backends implement :class:`Storage` with the same observable behaviour (the test-suite runs
one set of behavioural tests over both). Keys are ``/``-separated relative paths such as
``works/ab/abcdef.png``; :func:`validate_key` defines what is accepted, identically for every
backend, so a key that works in development also works against S3 and never escapes the media root.
"""

from __future__ import annotations

import asyncio
import contextlib
import mimetypes
import os
import re
import stat
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import IO, Any, Literal, Protocol, runtime_checkable
from urllib.parse import quote

from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

from hub.storage.errors import InvalidStorageKey, ObjectNotFound, StorageUnavailable

DEFAULT_CHUNK_SIZE = 64 * 1024
MAX_KEY_BYTES = 1024  # S3's own limit
MAX_SEGMENT_BYTES = 255  # common file-system limit for one path component
_TMP_PREFIX = ".tmp-"
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


def _check_content_type(content_type: str) -> str:
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


# --- local directory ---------------------------------------------------------------------------


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
        _check_content_type(content_type)
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
            elif key.startswith(prefix) and _is_valid_key(key):
                yield key

    def url_for(self, key: str) -> str | None:
        validate_key(key)
        if self.base_url is None:
            return None
        return f"{self.base_url}/{quote(key)}"

    async def aclose(self) -> None:
        return None


def _is_valid_key(key: str) -> bool:
    try:
        validate_key(key)
    except InvalidStorageKey:
        return False
    return True


# --- S3 ----------------------------------------------------------------------------------------

_NOT_FOUND_CODES = {"404", "NoSuchKey", "NotFound"}


class S3Storage:
    """Objects in an S3-compatible bucket (AWS, MinIO, R2, ...) through aioboto3.

    One session and one client per instance: the client is opened by :meth:`start` (or lazily by the
    first call) and closed by :meth:`aclose`. ``prefix`` namespaces every key inside the bucket.
    :meth:`url_for` returns ``public_base_url + key`` when the bucket (or a CDN) serves objects
    publicly, else a presigned GET URL valid for ``presign_seconds``. Presigning is a local
    computation; it uses a separate synchronous botocore client because aiobotocore's is async only
    and ``url_for`` is called while rendering.
    """

    def __init__(
        self,
        bucket: str,
        endpoint_url: str | None = None,
        region: str | None = "us-east-1",
        access_key: str | None = None,
        secret_key: str | None = None,
        prefix: str = "",
        public_base_url: str | None = None,
        presign_seconds: int = 3600,
        *,
        addressing_style: Literal["auto", "path", "virtual"] | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        max_attempts: int = 3,
        list_page_size: int = 1000,
    ) -> None:
        if not bucket:
            raise ValueError("bucket is required")
        if presign_seconds <= 0 or presign_seconds > 7 * 24 * 3600:
            raise ValueError("presign_seconds must be between 1 and 604800 (S3's maximum)")
        if not 1 <= list_page_size <= 1000:
            raise ValueError("list_page_size must be between 1 and 1000")
        prefix = prefix.strip("/")
        if prefix:
            validate_prefix(prefix)
            prefix += "/"
        self.bucket = bucket
        self.endpoint_url = endpoint_url or None
        self.region = region or None
        self.prefix = prefix
        self.public_base_url = public_base_url.rstrip("/") if public_base_url else None
        self.presign_seconds = presign_seconds
        self.list_page_size = list_page_size
        self._access_key = access_key or None
        self._secret_key = secret_key or None
        # Custom endpoints (MinIO, moto, most self-hosted stores) only support path-style URLs.
        style = addressing_style or ("path" if self.endpoint_url else "auto")
        self._config_kwargs: dict[str, Any] = {
            "signature_version": "s3v4",
            "s3": {"addressing_style": style},
            "connect_timeout": connect_timeout,
            "read_timeout": read_timeout,
            "retries": {"max_attempts": max_attempts, "mode": "standard"},
            # botocore ≥ 1.36 adds CRC trailers by default, which several S3-compatible stores
            # reject; only send/verify checksums where the API requires them.
            "request_checksum_calculation": "when_required",
            "response_checksum_validation": "when_required",
        }
        self._stack: AsyncExitStack | None = None
        self._client: Any = None
        self._presigner: Any = None
        self._start_lock = asyncio.Lock()
        self._closed = False

    # lifecycle

    async def start(self) -> None:
        """Open the client (idempotent). Called lazily by every operation."""
        await self._ensure_client()
        if self._presigner is None:
            self._presigner = await asyncio.to_thread(self._make_presigner)

    async def _ensure_client(self) -> Any:
        if self._client is not None:
            return self._client
        async with self._start_lock:
            if self._closed:
                raise RuntimeError("S3Storage is closed")
            if self._client is None:
                # Imported on first use: aioboto3 pulls in aiohttp, which local-only setups skip.
                import aioboto3  # type: ignore[import-untyped]
                from aiobotocore.config import AioConfig  # type: ignore[import-untyped]

                session = aioboto3.Session(
                    aws_access_key_id=self._access_key,
                    aws_secret_access_key=self._secret_key,
                    region_name=self.region,
                )
                stack = AsyncExitStack()
                client = await stack.enter_async_context(
                    session.client(
                        "s3",
                        endpoint_url=self.endpoint_url,
                        config=AioConfig(**self._config_kwargs),
                    )
                )
                self._stack, self._client = stack, client
        return self._client

    async def ensure_bucket(self) -> bool:
        """Create the bucket when it does not exist; True when this call created it.

        Every process of a scaled hub calls this at startup: one creates the bucket, the others
        (even at the same moment) find it. A bucket that exists but may not be inspected (403)
        is used as it is; a store that cannot be reached raises :class:`StorageUnavailable`."""
        client = await self._ensure_client()
        try:
            await client.head_bucket(Bucket=self.bucket)
            return False
        except ClientError as exc:
            if not _is_not_found(exc):
                if _status(exc) == 403:
                    return False
                raise
        except BotoCoreError as exc:
            raise StorageUnavailable() from exc
        params: dict[str, Any] = {"Bucket": self.bucket}
        if self.region and self.region != "us-east-1":  # us-east-1 refuses an explicit constraint
            params["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        try:
            await client.create_bucket(**params)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise
            # Another process won the race. Some stores say "exists" for their own buckets too;
            # a name taken by someone else fails this second look.
            await client.head_bucket(Bucket=self.bucket)
            return False
        except BotoCoreError as exc:
            raise StorageUnavailable() from exc
        return True

    def _make_presigner(self) -> Any:
        import botocore.session  # type: ignore[import-untyped]
        from botocore.config import Config  # type: ignore[import-untyped]

        session = botocore.session.get_session()
        return session.create_client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self._access_key,
            aws_secret_access_key=self._secret_key,
            config=Config(**self._config_kwargs),
        )

    async def aclose(self) -> None:
        async with self._start_lock:
            self._closed = True
            stack, self._stack, self._client = self._stack, None, None
            presigner, self._presigner = self._presigner, None
        if stack is not None:
            await stack.aclose()
        if presigner is not None:
            presigner.close()

    async def __aenter__(self) -> S3Storage:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # helpers

    def _full_key(self, key: str) -> str:
        return self.prefix + validate_key(key)

    async def _call(self, operation: str, **params: Any) -> Any:
        client = await self._ensure_client()
        try:
            return await getattr(client, operation)(Bucket=self.bucket, **params)
        except ClientError as exc:
            if _is_not_found(exc):
                raise
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if status >= 500:
                raise StorageUnavailable() from exc
            raise
        except BotoCoreError as exc:  # connection refused, timeouts, DNS, ...
            raise StorageUnavailable() from exc

    # operations

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        _check_content_type(content_type)
        await self._call(
            "put_object", Key=self._full_key(key), Body=bytes(data), ContentType=content_type
        )

    async def get(self, key: str) -> bytes:
        stream = await self.open_stream(key)
        return await stream.read()

    async def open_stream(self, key: str, chunk_size: int = DEFAULT_CHUNK_SIZE) -> ObjectStream:
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        full_key = self._full_key(key)
        try:
            response = await self._call("get_object", Key=full_key)
        except ClientError as exc:
            if _is_not_found(exc):
                raise ObjectNotFound(key) from None
            raise
        body = response["Body"]

        async def chunks() -> AsyncIterator[bytes]:
            while chunk := await body.read(chunk_size):
                yield chunk

        async def close() -> None:
            body.close()

        return ObjectStream(
            chunks(),
            size=response.get("ContentLength"),
            content_type=response.get("ContentType") or guess_content_type(key),
            close=close,
        )

    async def exists(self, key: str) -> bool:
        try:
            await self._call("head_object", Key=self._full_key(key))
        except ClientError as exc:
            if _is_not_found(exc):
                return False
            raise
        return True

    async def delete(self, key: str) -> None:
        await self._call("delete_object", Key=self._full_key(key))

    async def list_keys(self, prefix: str = "") -> AsyncIterator[str]:
        validate_prefix(prefix)
        client = await self._ensure_client()
        paginator = client.get_paginator("list_objects_v2")
        pages = paginator.paginate(
            Bucket=self.bucket,
            Prefix=self.prefix + prefix,
            PaginationConfig={"PageSize": self.list_page_size},
        )
        try:
            async for page in pages:
                for item in page.get("Contents", ()):
                    key = item["Key"][len(self.prefix) :]
                    # Objects written by other tools may not be valid keys here; skipping them keeps
                    # listing consistent with what get/delete accept.
                    if _is_valid_key(key):
                        yield key
        except BotoCoreError as exc:
            raise StorageUnavailable() from exc

    def url_for(self, key: str) -> str | None:
        full_key = self._full_key(key)
        if self.public_base_url is not None:
            return f"{self.public_base_url}/{quote(full_key)}"
        if self._presigner is None:
            # Only reached if url_for runs before start(); building the client reads botocore's
            # bundled service models once (a few ms of blocking file IO).
            self._presigner = self._make_presigner()
        url: str = self._presigner.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": full_key},
            ExpiresIn=self.presign_seconds,
        )
        return url


def _status(exc: ClientError) -> int:
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return int(status) if isinstance(status, int) else 0


def _is_not_found(exc: Exception) -> bool:
    response: dict[str, Any] = getattr(exc, "response", {}) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code in _NOT_FOUND_CODES or status == 404
