"""Media ids, the key layout and URLs.

Key layout (ids are UUIDs in the version 7 layout; see :func:`new_media_id`)::

    images/{job_id}/{index}/{image_id}.png           original, PNG with prompt metadata
    images/{job_id}/{index}/{image_id}-thumb.webp    longer side <= 512 px
    images/{job_id}/{index}/{image_id}-square.webp   200 x 200
    uploads/{owner_id}/{upload_id}.{png|jpg|webp}    img2img sources, re-encoded
    avatars/{owner_id}/{upload_id}.webp              256 x 256 avatars

A file's name says which row owns it and when it was made, so the orphan cleanup
(:mod:`hub.storage.cleanup`) needs no query per file.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from datetime import UTC, datetime
from urllib.parse import quote

from hub.storage.backends import LocalStorage, S3Storage, Storage

MEDIA_PREFIXES = ("images/", "uploads/", "avatars/")

_ID = r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
MEDIA_ID_RE = re.compile(rf"^{_ID}$")
JOB_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,36}$")
IMAGE_KEY_RE = re.compile(
    rf"^images/[A-Za-z0-9_-]+/\d+/(?P<id>{_ID})(?P<variant>-thumb\.webp|-square\.webp|\.png)$"
)
UPLOAD_KEY_RE = re.compile(rf"^(?P<dir>uploads|avatars)/\d+/(?P<id>{_ID})\.(?:png|jpg|webp)$")


def new_media_id() -> str:
    """A random UUID in the version 7 layout: 48-bit Unix milliseconds, then 74 random bits.
    Ids made later sort later, and a file's age can be read from the id in its key."""
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big") >> 6  # 74 bits
    value = (millis & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76 | (rand >> 62) << 64 | 0b10 << 62 | (rand & ((1 << 62) - 1))
    return str(uuid.UUID(int=value))


def media_id_time(media_id: str) -> datetime | None:
    """When a :func:`new_media_id` id was made; None for anything else."""
    if not MEDIA_ID_RE.match(media_id):
        return None
    millis = uuid.UUID(media_id).int >> 80
    return datetime.fromtimestamp(millis / 1000, tz=UTC)


def media_url(storage: Storage, key: str) -> str:
    """A URL for ``key`` that stays valid: the backend's own when it is stable (local files, a
    public bucket), else ``/media/{key}``, which redirects to a fresh presigned URL. Safe to
    store (avatars) and to send in room events, unlike a presigned URL that expires."""
    if isinstance(storage, LocalStorage) or (
        isinstance(storage, S3Storage) and storage.public_base_url
    ):
        url = storage.url_for(key)
        if url:
            return url
    return "/media/" + quote(key)
