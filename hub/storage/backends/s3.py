"""Media in an S3-compatible bucket: :class:`S3Storage`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any, Literal
from urllib.parse import quote

from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

from hub.storage.backends.base import (
    DEFAULT_CHUNK_SIZE,
    ObjectStream,
    check_content_type,
    guess_content_type,
    is_valid_key,
    validate_key,
    validate_prefix,
)
from hub.storage.errors import ObjectNotFound, StorageUnavailable

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
        check_content_type(content_type)
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
                    if is_valid_key(key):
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
