"""Storage fixtures: a moto S3 server (server mode, real HTTP on 127.0.0.1) shared by the session,
a fresh bucket per test, and ``storage`` parametrized over both backends."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest
from moto.server import ThreadedMotoServer

from hub.storage import LocalStorage, S3Storage, Storage

ACCESS_KEY = "testing-access-key"
SECRET_KEY = "testing-secret-key"
REGION = "us-east-1"


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_admin(moto_endpoint: str) -> Any:
    """A plain boto3 client for test setup (creating buckets, writing foreign objects)."""
    return boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )


@pytest.fixture
def s3_bucket(s3_admin: Any) -> str:
    name = f"hub-test-{uuid.uuid4().hex[:16]}"
    s3_admin.create_bucket(Bucket=name)
    return name


def make_s3_storage(endpoint: str, bucket: str, **kwargs: Any) -> S3Storage:
    return S3Storage(
        bucket=bucket,
        endpoint_url=endpoint,
        region=REGION,
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        **kwargs,
    )


@pytest.fixture
async def s3_storage(moto_endpoint: str, s3_bucket: str) -> AsyncIterator[S3Storage]:
    storage = make_s3_storage(moto_endpoint, s3_bucket, prefix="media")
    await storage.start()
    try:
        yield storage
    finally:
        await storage.aclose()


@pytest.fixture
async def local_storage(tmp_path: Path) -> AsyncIterator[LocalStorage]:
    storage = LocalStorage(tmp_path / "media")
    try:
        yield storage
    finally:
        await storage.aclose()


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest) -> Storage:
    backend: Storage = request.getfixturevalue(f"{request.param}_storage")
    return backend
