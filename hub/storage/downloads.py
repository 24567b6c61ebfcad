"""Downloads: one original as an attachment, or a selection as zip entries (:mod:`.archive`)."""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from urllib.parse import quote

from sqlalchemy.ext.asyncio import AsyncSession

from hub.accounts.actor import Actor
from hub.storage.archive import ZipEntry
from hub.storage.backends import ObjectStream, Storage
from hub.storage.errors import ImageNotFound
from hub.storage.models import Image
from hub.storage.service import RoomCheck, access_image


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
