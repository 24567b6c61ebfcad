"""The image library and uploads: rules, permissions and the rows behind the media files.

Files first, then rows: every writer stores its files and only then inserts the row (in the
caller's transaction), so a crash or rollback leaves at most files that no row references; the
orphan cleanup (:mod:`hub.storage.cleanup`) deletes those once they are old enough. Ids and the key
layout are in :mod:`hub.storage.keys`; downloads and zip entries in :mod:`hub.storage.downloads`.

Services take the session first, ``flush()`` and never commit (docs/images.md).
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from hub.accounts.actor import Actor
from hub.accounts.schemas import UserPrivate
from hub.accounts.users import access_me, set_avatar_url, user_private
from hub.collab.access import is_room_member
from hub.db import settings_of, utcnow
from hub.errors import BadRequest
from hub.outbox import after_commit
from hub.pagination import decode_cursor, encode_cursor
from hub.ratelimit import RateLimiter
from hub.search.service import DocKind, matching_ref_ids
from hub.storage.backends import Storage, validate_key
from hub.storage.cleanup import delete_keys
from hub.storage.errors import ImageNotFound, UploadNotFound, UploadRejected
from hub.storage.images import (
    EncodedImage,
    make_previews_async,
    make_square_async,
    png_with_metadata_async,
    validate_upload_async,
)
from hub.storage.indexing import index_image, unindex_images
from hub.storage.keys import (
    IMAGE_KEY_RE,
    JOB_ID_RE,
    MEDIA_ID_RE,
    UPLOAD_KEY_RE,
    media_url,
    new_media_id,
)
from hub.storage.models import Image, Upload, UploadPurpose
from hub.storage.schemas import ImagePage, ImageQuery, ImageView, UploadView

# (session, room_id) -> may the actor see the room (``hub.collab.access.room_visibility``). It
# reads through the caller's session.
RoomCheck = Callable[[AsyncSession, str], Awaitable[bool]]

THUMB_SIDE = 512
SQUARE_SIDE = 200
AVATAR_SIDE = 256


# --- views ----------------------------------------------------------------------------------------


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


# --- generated images (called by the generation worker) -------------------------------------------


def _png_size(png: bytes) -> tuple[int, int]:
    # png_with_metadata always writes the signature and then IHDR first.
    width, height = struct.unpack(">II", png[16:24])
    return int(width), int(height)


def _check_generated(job_id: str, index: int, seed: int) -> None:
    if not JOB_ID_RE.match(job_id):
        raise ValueError("job_id must be 1-36 letters, digits, '-' or '_'")
    if index < 0:
        raise ValueError("index must be >= 0")
    if not 0 <= seed < 2**64:
        raise ValueError("seed must be in [0, 2**64)")


async def _generated_png(
    data: bytes, prompt: str, negative_prompt: str, params: dict[str, Any], *, model: str, seed: int
) -> bytes:
    """The original as PNG with the prompt and the parameters (plus model and seed) embedded."""
    metadata = {**params, "model": model, "seed": seed}
    try:
        return await png_with_metadata_async(
            data, prompt=prompt, negative=negative_prompt, params=metadata
        )
    except UploadRejected as exc:
        # Not the user's upload: a provider returned something that is not a usable image.
        raise ValueError(f"The generated image cannot be stored: {exc.message}") from exc


async def _put_generated(storage: Storage, base: str, png: bytes) -> tuple[str, str, str]:
    """Write the original, its thumbnail and its square; returns their keys."""
    thumb, square = await make_previews_async(png, thumb_side=THUMB_SIDE, square_side=SQUARE_SIDE)
    key, thumb_key, square_key = f"{base}.png", f"{base}-thumb.webp", f"{base}-square.webp"
    await asyncio.gather(
        storage.put(key, png, "image/png"),
        storage.put(thumb_key, thumb.data, thumb.content_type),
        storage.put(square_key, square.data, square.content_type),
    )
    return key, thumb_key, square_key


async def _retire_earlier_attempts(
    session: AsyncSession, job_id: str, index: int, *, now: datetime
) -> None:
    """A retried job replaces what an earlier attempt stored for the same ``(job_id, index)``."""
    retired = await session.scalars(
        update(Image)
        .where(
            col(Image.job_id) == job_id,
            col(Image.index) == index,
            col(Image.deleted_at).is_(None),
        )
        .values(deleted_at=now)
        .returning(col(Image.image_id))
    )
    await unindex_images(session, list(retired))


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
    _check_generated(job_id, index, seed)
    image_id = new_media_id()
    base = validate_key(f"images/{job_id}/{index}/{image_id}")
    png = await _generated_png(data, prompt, negative_prompt, params, model=model, seed=seed)
    key, thumb_key, square_key = await _put_generated(storage, base, png)
    real_width, real_height = _png_size(png)
    now = utcnow()
    await _retire_earlier_attempts(session, job_id, index, now=now)
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
    await index_image(session, image)
    return image_view(storage, image)


async def _row_for_ref(session: AsyncSession, ref: str) -> Image | Upload | None:
    """The image or upload named by an id or by the key of its original/uploaded file."""
    if MEDIA_ID_RE.match(ref):
        return await session.get(Image, ref) or await session.get(Upload, ref)
    if match := IMAGE_KEY_RE.match(ref):
        image = await session.get(Image, match["id"])
        return image if image is not None and image.key == ref else None
    if match := UPLOAD_KEY_RE.match(ref):
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
    if not MEDIA_ID_RE.match(image_id):
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


@dataclass(frozen=True)
class ImageLinks:
    """Where a browser fetches an image and its previews (see :func:`image_links`)."""

    url: str
    thumb_url: str
    square_url: str
    width: int
    height: int


async def image_links(
    session: AsyncSession, image_ids: Iterable[str], storage: Storage | None = None
) -> dict[str, ImageLinks]:
    """Links to the live images among ``image_ids``, by id, in one query (for lists of works
    and the like, whose visibility the caller has decided). With the process's ``storage`` the
    links are the backend's own stable URLs; without it, ``/media/{key}``, which the app serves
    or redirects for every backend."""
    wanted = sorted({i for i in image_ids if MEDIA_ID_RE.match(i)})
    if not wanted:
        return {}
    # The columns a link needs, not the row (prompt, params): lists call this on every page.
    stmt = select(
        col(Image.image_id),
        col(Image.key),
        col(Image.thumb_key),
        col(Image.square_key),
        col(Image.width),
        col(Image.height),
    ).where(col(Image.image_id).in_(wanted), col(Image.deleted_at).is_(None))

    def link(key: str) -> str:
        return media_url(storage, key) if storage is not None else "/media/" + quote(key)

    return {
        row.image_id: ImageLinks(
            url=link(row.key),
            thumb_url=link(row.thumb_key),
            square_url=link(row.square_key),
            width=row.width,
            height=row.height,
        )
        for row in await session.execute(stmt)
    }


def _cursor_after(cursor: str) -> tuple[datetime, str]:
    created_at, image_id = decode_cursor(cursor)
    if created_at.tzinfo is None or not isinstance(image_id, str) or len(image_id) > 64:
        raise BadRequest("The cursor is not valid; start again without it.")
    return created_at, image_id


async def list_images(
    session: AsyncSession, actor: Actor, *, storage: Storage, query: ImageQuery
) -> ImagePage:
    """The actor's live images, newest first, cursor-paged on ``(created_at, image_id)``.

    ``q`` runs on the search index (:mod:`hub.search`, one statement with the listing): every
    term (at most 8; ``"a phrase"``, ``-excluded``) must match the prompt. On SQLite a term
    matches as a substring, on Postgres as words (docs/search.md)."""
    stmt = select(Image).where(
        col(Image.owner_id) == actor.user_id, col(Image.deleted_at).is_(None)
    )
    if query.q:
        found = matching_ref_ids(session, DocKind.image, query.q, owner_id=actor.user_id)
        stmt = stmt.where(col(Image.image_id).in_(found))
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


# How many distinct models and rooms the library's filter menus offer (the most recent first).
MAX_FACETS = 50


@dataclass(frozen=True)
class Library:
    """``/images``: one page of the library and what its filters can choose from."""

    page: ImagePage
    models: list[str]
    rooms: list[str]


async def _recent_distinct(session: AsyncSession, actor: Actor, column: Any) -> list[str]:
    stmt = (
        select(column, func.max(col(Image.created_at)).label("latest"))
        .where(
            col(Image.owner_id) == actor.user_id,
            col(Image.deleted_at).is_(None),
            column.is_not(None),
        )
        .group_by(column)
        .order_by(func.max(col(Image.created_at)).desc(), column)
        .limit(MAX_FACETS)
    )
    return [str(value) for value, _latest in (await session.execute(stmt)).all()]


async def read_library(
    session: AsyncSession, actor: Actor, *, storage: Storage, query: ImageQuery
) -> Library:
    """:func:`list_images` with the models and rooms of the actor's images, most recently
    used first (the choices of the page's filters)."""
    page = await list_images(session, actor, storage=storage, query=query)
    models = await _recent_distinct(session, actor, col(Image.model))
    rooms = await _recent_distinct(session, actor, col(Image.room_id))
    return Library(page=page, models=models, rooms=rooms)


async def delete_image(session: AsyncSession, actor: Actor, image_id: str) -> None:
    """Soft delete (owner only): the image leaves the library now, its files go with the orphan
    cleanup after the grace period."""
    image = await access_image(session, actor, image_id)
    image.deleted_at = utcnow()
    await session.flush()
    await unindex_images(session, [image.image_id])


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
    settings = settings_of(session)
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
        await set_avatar_url(session, actor, avatar_url=media_url(storage, key))
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
    return user_private(await access_me(session, actor))


async def clear_avatar(session: AsyncSession, actor: Actor, storage: Storage) -> UserPrivate:
    """Back to the default identicon; the uploaded pictures are deleted after commit."""
    await _replace_avatars(session, actor, storage, keep=None)
    user = await set_avatar_url(session, actor, avatar_url=None)
    return user_private(user)


async def access_upload(session: AsyncSession, actor: Actor, upload_id: str) -> Upload:
    """The actor's upload; UploadNotFound when missing or someone else's."""
    upload = await session.get(Upload, upload_id) if MEDIA_ID_RE.match(upload_id) else None
    if upload is None or upload.owner_id != actor.user_id:
        raise UploadNotFound()
    return upload


_UPLOAD_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}


async def copy_image_to_upload(
    session: AsyncSession, actor: Actor, storage: Storage, image_id: str
) -> Upload:
    """A copy of the live library image ``image_id`` as one of ``actor``'s source uploads, for
    img2img (a remix of a published work: the caller decided the image may be used). The copy
    is the actor's: it stays when the original is deleted, and ``access_source_key`` accepts it.
    ImageNotFound when the image is gone. The file is stored before the row, as every writer
    here does."""
    image = await get_image(session, image_id)
    if image is None:
        raise ImageNotFound("The work's image is gone.")
    data = await storage.get(image.key)
    upload_id = new_media_id()
    extension = _UPLOAD_EXTENSIONS.get(image.mime, "png")
    key = validate_key(f"uploads/{actor.user_id}/{upload_id}.{extension}")
    await storage.put(key, data, image.mime)
    upload = Upload(
        upload_id=upload_id,
        owner_id=actor.user_id,
        key=key,
        purpose=UploadPurpose.source.value,
        mime=image.mime,
        width=image.width,
        height=image.height,
        bytes=len(data),
    )
    session.add(upload)
    await session.flush()
    return upload


async def access_source_key(session: AsyncSession, actor: Actor, ref: str) -> str:
    """The storage key of an img2img source the actor may use: one of their uploads or live
    library images, or a live image of a room they are a member of, named by upload id, image
    id or key. ImageNotFound otherwise."""
    row = await _row_for_ref(session, ref)
    if row is None or (isinstance(row, Image) and row.deleted_at is not None):
        raise ImageNotFound("The source image does not exist.")
    if row.owner_id != actor.user_id and not await _shared_in_room(session, actor, row):
        raise ImageNotFound("The source image does not exist.")
    return row.key


async def _shared_in_room(session: AsyncSession, actor: Actor, row: Image | Upload) -> bool:
    # A room's images are its members' to build on ("use as source" in the room's gallery);
    # uploads stay their owner's.
    return (
        isinstance(row, Image)
        and row.room_id is not None
        and await is_room_member(session, actor, row.room_id)
    )


async def images_by_owner(session: AsyncSession, owner_id: int) -> list[Image]:
    """Every image in ``owner_id``'s library, oldest first (``hub user export``)."""
    stmt = (
        select(Image)
        .where(col(Image.owner_id) == owner_id, col(Image.deleted_at).is_(None))
        .order_by(col(Image.created_at), col(Image.image_id))
    )
    return list((await session.scalars(stmt)).all())
