"""Builds the media backend from settings for the app lifespan and workers, and hands the web
process's backend to the routes and pages."""

from __future__ import annotations

import logging

from hub.settings import Settings
from hub.storage.backends import LocalStorage, S3Storage, Storage
from hub.storage.errors import StorageUnavailable
from hub.storage.images import set_decode_concurrency

log = logging.getLogger(__name__)


async def open_storage(settings: Settings) -> Storage:
    # Every process that stores media decodes images: bound how many at once (memory).
    set_decode_concurrency(settings.image_decode_concurrency)
    if settings.s3_bucket:
        storage = S3Storage(
            bucket=settings.s3_bucket,
            endpoint_url=settings.s3_endpoint_url or None,
            region=settings.s3_region,
            access_key=settings.s3_access_key_id or None,
            secret_key=settings.s3_secret_access_key.get_secret_value() or None,
            public_base_url=settings.s3_public_base_url or None,
        )
        await storage.start()
        try:
            if await storage.ensure_bucket():
                log.info("created the S3 bucket", extra={"bucket": settings.s3_bucket})
        except StorageUnavailable:
            # Not fatal: the hub serves everything else, media calls answer 503 until S3 is back.
            log.warning(
                "S3 is unreachable; bucket not checked", extra={"bucket": settings.s3_bucket}
            )
        return storage
    settings.media_dir.mkdir(parents=True, exist_ok=True)
    return LocalStorage(settings.media_dir, base_url="/media")
