"""The image library and uploads: rules, permissions and the rows behind the media files.

Files first, then rows: every writer stores its files and only then inserts the row (in the
caller's transaction). A crash or rollback in between leaves files that no row references; their
names carry a time-ordered id, so :func:`cleanup_orphans` can tell such a file's age from its name
and delete it once it is older than the grace period, without racing a save in progress.

Key layout (ids are UUIDs in the version 7 layout; see :func:`new_media_id`)::

    images/{job_id}/{index}/{image_id}.png           original, PNG with prompt metadata
    images/{job_id}/{index}/{image_id}-thumb.webp    longer side <= 512 px
    images/{job_id}/{index}/{image_id}-square.webp   200 x 200
    uploads/{owner_id}/{upload_id}.{png|jpg|webp}    img2img sources, re-encoded
    avatars/{owner_id}/{upload_id}.webp              256 x 256 avatars

Services take the session first, ``flush()`` and never commit (docs/images.md).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import struct
import time
import unicodedata
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from hub.accounts import service as accounts
from hub.accounts.actor import Actor
from hub.accounts.schemas import UserPrivate
from hub.db import Database, utcnow
from hub.errors import BadRequest
from hub.outbox import after_commit
from hub.pagination import decode_cursor, encode_cursor
from hub.ratelimit import RateLimiter
from hub.settings import Settings
from hub.storage.archive import ZipEntry
from hub.storage.backends import LocalStorage, ObjectStream, S3Storage, Storage, validate_key
from hub.storage.errors import ImageNotFound, InvalidStorageKey, UploadNotFound, UploadRejected
from hub.storage.images import (
    EncodedImage,
    make_previews_async,
    make_square_async,
    png_with_metadata_async,
    validate_upload_async,
)
from hub.storage.models import Image, Upload, UploadPurpose
from hub.storage.schemas import ImagePage, ImageQuery, ImageView, UploadView

log = logging.getLogger(__name__)

# Where other domains put ``room_check(actor) -> ((session, room_id) -> Awaitable[bool])`` in
# ctx.extras; the same callable the generation queue view uses
# (hub.generation.service.ROOM_CHECK_KEY). It reads through the caller's session.
ROOM_CHECK_KEY = "generation.room_check"
RoomCheck = Callable[[AsyncSession, str], Awaitable[bool]]

THUMB_SIDE = 512
SQUARE_SIDE = 200
AVATAR_SIDE = 256
MEDIA_PREFIXES = ("images/", "uploads/", "avatars/")
_BATCH = 500
_DELETE_CONCURRENCY = 16

_ID = r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
_ID_RE = re.compile(rf"^{_ID}$")
_JOB_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,36}$")
_IMAGE_KEY_RE = re.compile(
    rf"^images/[A-Za-z0-9_-]+/\d+/(?P<id>{_ID})(?P<variant>-thumb\.webp|-square\.webp|\.png)$"
)
_UPLOAD_KEY_RE = re.compile(rf"^(?P<dir>uploads|avatars)/\d+/(?P<id>{_ID})\.(?:png|jpg|webp)$")


# --- ids and urls --------------------------------------------------------------------------------


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
    if not _ID_RE.match(media_id):
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


def image_view(storage: Storage, image: Image) -> ImageView:
    return ImageView(
        image_id=image.image_id,
        job_id=image.job_id,
        room_id=image.room_id,
        index=image.index,
        url=media_url(storage, image.key),
        thumb_url=media_url(storage, image.thumb_key),
        square_url=media_url(storage, image.square_key),
        download_url=f"/api/v1/images/{image.image_id}/download",
        key=image.key,
        mime=image.mime,
        width=image.width,
        height=image.height,
        bytes=image.bytes,
        seed=int(image.seed),
        model=image.model,
        prompt=image.prompt,
        negative_prompt=image.negative_prompt,
        params=dict(image.params or {}),
        created_at=image.created_at,
    )


def upload_view(storage: Storage, upload: Upload) -> UploadView:
    return UploadView(
        upload_id=upload.upload_id,
        key=upload.key,
        url=media_url(storage, upload.key),
        purpose=UploadPurpose(upload.purpose).value,
        mime=upload.mime,
        width=upload.width,
        height=upload.height,
        bytes=upload.bytes,
        created_at=upload.created_at,
    )


def _settings(session: AsyncSession) -> Settings:
    settings = session.info.get("settings")
    if not isinstance(settings, Settings):
        raise RuntimeError("storage services need a session from Database.unit_of_work()")
    return settings


# --- generated images (called by the generation worker) -------------------------------------------


def _png_size(png: bytes) -> tuple[int, int]:
    # png_with_metadata always writes the signature and then IHDR first.
    width, height = struct.unpack(">II", png[16:24])
    return int(width), int(height)


async def save_generated_image(
    session: AsyncSession,
    storage: Storage,
    *,
    owner_id: int,
    job_id: str,
    room_id: str | None,
    index: int,
    data: bytes,
    mime: str,
    width: int,
    height: int,
    seed: int,
    model: str,
    prompt: str,
    negative_prompt: str,
    params: dict[str, Any],
) -> ImageView:
    """Store one generated image and add it to ``owner_id``'s library.

    Writes the original as PNG with ``prompt``, ``negative_prompt`` and ``parameters`` (``params``
    plus model and seed) text chunks, whatever ``mime`` the provider returned, a thumbnail and a
    square (image work runs on the image thread pool), then inserts the row and flushes. Width
    and height are read from the stored PNG (``width``/``height`` are the provider's claim). A
    retried job replaces what an earlier attempt stored for the same ``(job_id, index)``.
    Raises ``ValueError`` for undecodable image data.
    """
    if not _JOB_ID_RE.match(job_id):
        raise ValueError("job_id must be 1-36 letters, digits, '-' or '_'")
    if index < 0:
        raise ValueError("index must be >= 0")
    if not 0 <= seed < 2**64:
        raise ValueError("seed must be in [0, 2**64)")
    image_id = new_media_id()
    base = validate_key(f"images/{job_id}/{index}/{image_id}")
    metadata = {**params, "model": model, "seed": seed}
    try:
        png = await png_with_metadata_async(
            data, prompt=prompt, negative=negative_prompt, params=metadata
        )
    except UploadRejected as exc:
        # Not the user's upload: a provider returned something that is not a usable image.
        raise ValueError(f"The generated image cannot be stored: {exc.message}") from exc
    thumb, square = await make_previews_async(png, thumb_side=THUMB_SIDE, square_side=SQUARE_SIDE)
    key, thumb_key, square_key = f"{base}.png", f"{base}-thumb.webp", f"{base}-square.webp"
    await asyncio.gather(
        storage.put(key, png, "image/png"),
        storage.put(thumb_key, thumb.data, thumb.content_type),
        storage.put(square_key, square.data, square.content_type),
    )
    real_width, real_height = _png_size(png)
    now = utcnow()
    await session.execute(
        update(Image)
        .where(
            col(Image.job_id) == job_id,
            col(Image.index) == index,
            col(Image.deleted_at).is_(None),
        )
        .values(deleted_at=now)
    )
    image = Image(
        image_id=image_id,
        owner_id=owner_id,
        job_id=job_id,
        room_id=room_id,
        index=index,
        key=key,
        thumb_key=thumb_key,
        square_key=square_key,
        mime="image/png",
        width=real_width,
        height=real_height,
        bytes=len(png),
        seed=str(seed),
        model=model,
        prompt=prompt,
        negative_prompt=negative_prompt,
        params=dict(params),
        created_at=now,
    )
    session.add(image)
    await session.flush()
    return image_view(storage, image)


async def _row_for_ref(session: AsyncSession, ref: str) -> Image | Upload | None:
    """The image or upload named by an id or by the key of its original/uploaded file."""
    if _ID_RE.match(ref):
        return await session.get(Image, ref) or await session.get(Upload, ref)
    if match := _IMAGE_KEY_RE.match(ref):
        image = await session.get(Image, match["id"])
        return image if image is not None and image.key == ref else None
    if match := _UPLOAD_KEY_RE.match(ref):
        upload = await session.get(Upload, match["id"])
        return upload if upload is not None and upload.key == ref else None
    return None


async def load_image_bytes(session: AsyncSession, storage: Storage, key_or_image_id: str) -> bytes:
    """The bytes of an image original or an upload, by key, image id or upload id (img2img
    sources). No permission check: the caller checked at enqueue time (:func:`access_source_key`);
    but only files that a library or upload row names are readable this way, never arbitrary
    keys. ImageNotFound when nothing matches, ObjectNotFound when the file is gone."""
    row = await _row_for_ref(session, key_or_image_id)
    if row is None:
        raise ImageNotFound("The source image does not exist.")
    return await storage.get(row.key)


# --- the library ---------------------------------------------------------------------------------


async def get_image(session: AsyncSession, image_id: str) -> Image | None:
    """A live (not deleted) image, or None."""
    if not _ID_RE.match(image_id):
        return None
    image = await session.get(Image, image_id)
    return image if image is not None and image.deleted_at is None else None


async def access_image(
    session: AsyncSession, actor: Actor, image_id: str, *, can_see_room: RoomCheck | None = None
) -> Image:
    """The image if ``actor`` owns it or, when ``can_see_room`` is given, may see the room it was
    made in; ImageNotFound otherwise (also for someone else's image: no existence leak)."""
    image = await get_image(session, image_id)
    if image is None:
        raise ImageNotFound()
    if image.owner_id == actor.user_id:
        return image
    room_id = image.room_id
    if room_id is not None and can_see_room is not None and await can_see_room(session, room_id):
        return image
    raise ImageNotFound()


def _like_pattern(term: str) -> str:
    escaped = term.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _cursor_after(cursor: str) -> tuple[datetime, str]:
    created_at, image_id = decode_cursor(cursor)
    if created_at.tzinfo is None or not isinstance(image_id, str) or len(image_id) > 64:
        raise BadRequest("The cursor is not valid; start again without it.")
    return created_at, image_id


async def list_images(
    session: AsyncSession, actor: Actor, *, storage: Storage, query: ImageQuery
) -> ImagePage:
    """The actor's live images, newest first, cursor-paged on ``(created_at, image_id)``.

    ``q``: every whitespace-separated word (at most 8) must occur in the prompt, compared with
    SQL ``lower()`` (ASCII-only case folding on SQLite, full Unicode on Postgres)."""
    stmt = select(Image).where(
        col(Image.owner_id) == actor.user_id, col(Image.deleted_at).is_(None)
    )
    for term in query.terms:
        stmt = stmt.where(func.lower(col(Image.prompt)).like(_like_pattern(term), escape="\\"))
    if query.model is not None:
        stmt = stmt.where(col(Image.model) == query.model)
    if query.room is not None:
        stmt = stmt.where(col(Image.room_id) == query.room)
    if query.since is not None:
        stmt = stmt.where(col(Image.created_at) >= query.since)
    if query.until is not None:
        stmt = stmt.where(col(Image.created_at) < query.until)
    if query.cursor:
        created_at, image_id = _cursor_after(query.cursor)
        stmt = stmt.where(
            or_(
                col(Image.created_at) < created_at,
                and_(col(Image.created_at) == created_at, col(Image.image_id) < image_id),
            )
        )
    stmt = stmt.order_by(col(Image.created_at).desc(), col(Image.image_id).desc())
    rows = list(await session.scalars(stmt.limit(query.limit + 1)))
    next_cursor = None
    if len(rows) > query.limit:
        rows = rows[: query.limit]
        next_cursor = encode_cursor(rows[-1].created_at, rows[-1].image_id)
    return ImagePage(items=[image_view(storage, r) for r in rows], next_cursor=next_cursor)


async def delete_image(session: AsyncSession, actor: Actor, image_id: str) -> None:
    """Soft delete (owner only): the image leaves the library now, its files go with the orphan
    cleanup after the grace period."""
    image = await access_image(session, actor, image_id)
    image.deleted_at = utcnow()
    await session.flush()


# --- downloads -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Download:
    stream: ObjectStream
    filename: str
    content_type: str


def download_name(image: Image) -> str:
    """``{first words of the prompt}-{8 id characters}.png``; Unicode kept (RFC 5987 header)."""
    words = re.sub(r"\W+", "-", unicodedata.normalize("NFC", image.prompt)).strip("-_")
    stem = words[:48].strip("-_").lower() or "image"
    # The tail of a v7 id is random; its head is the timestamp, shared by a whole batch.
    return f"{stem}-{image.image_id[-8:]}.png"


def attachment_header(filename: str) -> str:
    """``Content-Disposition`` for a download: an ASCII ``filename`` every client understands
    and, when the name is not plain ASCII, the exact one as RFC 5987 ``filename*``."""
    stem, ext = os.path.splitext(filename)
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode("ascii")
    ascii_stem = re.sub(r"[^A-Za-z0-9._-]+", "_", ascii_stem).strip("._-") or "download"
    ascii_name = ascii_stem + re.sub(r"[^A-Za-z0-9.]", "", ext)
    header = f'attachment; filename="{ascii_name}"'
    if ascii_name != filename:
        header += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return header


async def open_download(
    session: AsyncSession,
    actor: Actor,
    storage: Storage,
    image_id: str,
    *,
    can_see_room: RoomCheck | None = None,
) -> Download:
    """The original file of a visible image, opened (404 before any response if it is gone)."""
    image = await access_image(session, actor, image_id, can_see_room=can_see_room)
    stream = await storage.open_stream(image.key)
    return Download(stream, download_name(image), image.mime)


async def _lazy_stream(storage: Storage, key: str) -> AsyncIterator[bytes]:
    # Opened only when the archive reaches this entry: a hundred bodies held open at once would
    # exhaust an S3 client's connection pool.
    async with await storage.open_stream(key) as stream:
        async for chunk in stream:
            yield chunk


async def zip_entries(
    session: AsyncSession,
    actor: Actor,
    storage: Storage,
    image_ids: Sequence[str],
    *,
    can_see_room: RoomCheck | None = None,
) -> list[ZipEntry]:
    """Archive entries for visible images, in the order asked; ImageNotFound (with the ids in
    ``details.missing``) when any of them is not visible, so nobody gets a silently short zip."""
    images: list[Image] = []
    missing: list[str] = []
    for image_id in image_ids:
        try:
            images.append(await access_image(session, actor, image_id, can_see_room=can_see_room))
        except ImageNotFound:
            missing.append(image_id)
    if missing:
        raise ImageNotFound(
            f"{len(missing)} of the selected images cannot be found.", missing=missing
        )
    return [
        ZipEntry(download_name(image), _lazy_stream(storage, image.key), image.created_at)
        for image in images
    ]


# --- uploads -------------------------------------------------------------------------------------


async def upload_image(
    session: AsyncSession,
    actor: Actor,
    storage: Storage,
    *,
    data: bytes,
    purpose: str = UploadPurpose.source,
    limiter: RateLimiter | None = None,
) -> Upload:
    """Validate, re-encode and store an uploaded image (UploadRejected for anything that is not
    an intact PNG/JPEG/WebP within the byte and pixel limits; nothing is stored then).

    ``avatar`` uploads become a 256 px WebP square, replace the actor's previous avatar (its
    file is deleted after commit) and are set as the profile's ``avatar_url``."""
    settings = _settings(session)
    kind = UploadPurpose(purpose)
    if limiter is not None:
        await limiter.hit(
            settings.rate_limit_upload,
            "upload",
            str(actor.user_id),
            message="Too many uploads; try again later.",
        )
    image: EncodedImage = await validate_upload_async(
        data, max_bytes=settings.max_upload_bytes, max_pixels=settings.upload_max_pixels
    )
    if kind == UploadPurpose.avatar:
        image = await make_square_async(
            image.data, AVATAR_SIDE, output_format="WEBP", max_pixels=settings.upload_max_pixels
        )
    upload_id = new_media_id()
    folder = "avatars" if kind == UploadPurpose.avatar else "uploads"
    key = validate_key(f"{folder}/{actor.user_id}/{upload_id}.{image.extension}")
    await storage.put(key, image.data, image.content_type)
    upload = Upload(
        upload_id=upload_id,
        owner_id=actor.user_id,
        key=key,
        purpose=kind.value,
        mime=image.content_type,
        width=image.width,
        height=image.height,
        bytes=len(image.data),
    )
    session.add(upload)
    await session.flush()
    if kind == UploadPurpose.avatar:
        await _replace_avatars(session, actor, storage, keep=upload_id)
        await accounts.set_avatar_url(session, actor, avatar_url=media_url(storage, key))
    return upload


async def _replace_avatars(
    session: AsyncSession, actor: Actor, storage: Storage, *, keep: str | None
) -> None:
    conditions = [
        col(Upload.owner_id) == actor.user_id,
        col(Upload.purpose) == UploadPurpose.avatar.value,
    ]
    if keep is not None:
        conditions.append(col(Upload.upload_id) != keep)
    old_keys = list(await session.scalars(select(col(Upload.key)).where(*conditions)))
    if not old_keys:
        return
    await session.execute(delete(Upload).where(*conditions))

    async def remove_files() -> None:
        await delete_keys(storage, old_keys)

    # After commit: a rolled-back change must keep the old picture.
    after_commit(session, remove_files)


async def set_avatar(
    session: AsyncSession,
    actor: Actor,
    storage: Storage,
    *,
    data: bytes,
    limiter: RateLimiter | None = None,
) -> UserPrivate:
    """Upload ``data`` as the actor's avatar and return the updated profile."""
    await upload_image(
        session, actor, storage, data=data, purpose=UploadPurpose.avatar, limiter=limiter
    )
    return accounts.user_private(await accounts.access_me(session, actor))


async def clear_avatar(session: AsyncSession, actor: Actor, storage: Storage) -> UserPrivate:
    """Back to the default identicon; the uploaded pictures are deleted after commit."""
    await _replace_avatars(session, actor, storage, keep=None)
    user = await accounts.set_avatar_url(session, actor, avatar_url=None)
    return accounts.user_private(user)


async def access_upload(session: AsyncSession, actor: Actor, upload_id: str) -> Upload:
    """The actor's upload; UploadNotFound when missing or someone else's."""
    upload = await session.get(Upload, upload_id) if _ID_RE.match(upload_id) else None
    if upload is None or upload.owner_id != actor.user_id:
        raise UploadNotFound()
    return upload


async def access_source_key(session: AsyncSession, actor: Actor, ref: str) -> str:
    """The storage key of an img2img source the actor may use: one of their uploads or live
    library images, named by upload id, image id or key. ImageNotFound otherwise."""
    row = await _row_for_ref(session, ref)
    if row is None or row.owner_id != actor.user_id:
        raise ImageNotFound("The source image does not exist.")
    if isinstance(row, Image) and row.deleted_at is not None:
        raise ImageNotFound("The source image does not exist.")
    return row.key


# --- cleanup -------------------------------------------------------------------------------------


async def delete_keys(storage: Storage, keys: Iterable[str]) -> int:
    """Delete these files (missing ones are fine; invalid keys are logged and skipped); returns
    how many deletes were issued. Concurrency is bounded for remote backends."""
    valid: list[str] = []
    for key in dict.fromkeys(keys):
        try:
            valid.append(validate_key(key))
        except InvalidStorageKey:
            log.warning("not deleting an invalid storage key", extra={"key": key})
    for start in range(0, len(valid), _DELETE_CONCURRENCY):
        chunk = valid[start : start + _DELETE_CONCURRENCY]
        await asyncio.gather(*(storage.delete(key) for key in chunk))
    return len(valid)


async def delete_images_by_key(session: AsyncSession, storage: Storage, keys: Sequence[str]) -> int:
    """The generation worker's ``on_orphan_keys`` sink: images of jobs that did not keep them
    (lease lost, purged failures). Removes the library rows whose original is one of ``keys``
    now and, after commit, their files (with thumbnail and square) and the other given keys,
    except files of images that stay (a thumbnail key alone never breaks a live image). Returns
    the number of rows removed."""
    matches = {key: m for key in dict.fromkeys(keys) if (m := _IMAGE_KEY_RE.match(key))}
    files = {key for key in keys if key not in matches}
    rows: dict[str, Image] = {}
    if matches:
        ids = {m["id"] for m in matches.values()}
        found = await session.scalars(select(Image).where(col(Image.image_id).in_(ids)))
        rows = {row.image_id: row for row in found}
    removed = 0
    for key, match in matches.items():
        row = rows.get(match["id"])
        if row is None:
            files.add(key)  # a file whose row is already gone
        elif row.key == key:
            files.update((row.key, row.thumb_key, row.square_key))
            await session.delete(row)
            removed += 1
    await session.flush()

    async def remove_files() -> None:
        await delete_keys(storage, sorted(files))

    after_commit(session, remove_files)
    return removed


@dataclass(frozen=True)
class CleanupResult:
    images_purged: int
    files_deleted: int


async def _purge_deleted_images(db: Database, storage: Storage, cutoff: datetime) -> CleanupResult:
    purged = files = 0
    while True:
        async with db.unit_of_work() as session:
            rows = (
                await session.execute(
                    select(
                        col(Image.image_id),
                        col(Image.key),
                        col(Image.thumb_key),
                        col(Image.square_key),
                    )
                    .where(col(Image.deleted_at) < cutoff)
                    .order_by(col(Image.deleted_at))
                    .limit(_BATCH)
                )
            ).all()
        if not rows:
            return CleanupResult(purged, files)
        # Files first: if deleting them fails, the rows stay and the next run tries again.
        files += await delete_keys(storage, [k for row in rows for k in row[1:]])
        async with db.unit_of_work() as session:
            result = await session.execute(
                delete(Image).where(
                    col(Image.image_id).in_([row.image_id for row in rows]),
                    col(Image.deleted_at).is_not(None),
                )
            )
            purged += int(getattr(result, "rowcount", 0) or 0)


async def _delete_unreferenced(
    db: Database, storage: Storage, batch: dict[str, str], model: type[Image] | type[Upload]
) -> int:
    if not batch:
        return 0
    id_column = col(Image.image_id) if model is Image else col(Upload.upload_id)
    async with db.unit_of_work() as session:
        ids = set(batch.values())
        known = set(await session.scalars(select(id_column).where(id_column.in_(ids))))
    return await delete_keys(storage, [key for key, mid in batch.items() if mid not in known])


async def _sweep_prefix(db: Database, storage: Storage, prefix: str, cutoff: datetime) -> int:
    pattern, model = (_IMAGE_KEY_RE, Image) if prefix == "images/" else (_UPLOAD_KEY_RE, Upload)
    deleted = 0
    batch: dict[str, str] = {}
    async for key in storage.list_keys(prefix):
        match = pattern.match(key)
        made = media_id_time(match["id"]) if match else None
        # Files not named by us are not ours to delete; young ones may belong to a save whose
        # row is not committed yet.
        if match is None or made is None or made >= cutoff:
            continue
        batch[key] = match["id"]
        if len(batch) >= _BATCH:
            deleted += await _delete_unreferenced(db, storage, batch, model)
            batch = {}
    return deleted + await _delete_unreferenced(db, storage, batch, model)


async def cleanup_orphans(
    db: Database, storage: Storage, *, older_than: timedelta, now: datetime | None = None
) -> CleanupResult:
    """Delete the files (then the rows) of images soft-deleted more than ``older_than`` ago, and
    every media file under ``images/``, ``uploads/`` and ``avatars/`` that is older than that and
    that no row references (crashed saves, rolled-back uploads, replaced avatars). Idempotent;
    safe to run from several processes at once."""
    cutoff = (now or utcnow()) - older_than
    purged = await _purge_deleted_images(db, storage, cutoff)
    files = purged.files_deleted
    for prefix in MEDIA_PREFIXES:
        files += await _sweep_prefix(db, storage, prefix, cutoff)
    if purged.images_purged or files:
        log.info(
            "media cleanup",
            extra={"images_purged": purged.images_purged, "files_deleted": files},
        )
    return CleanupResult(purged.images_purged, files)
