"""A room's gallery: every live image generated in the room, newest first, for its members.

The room page shows it (``GET /api/v1/rooms/{slug}/images``), so someone who joins late sees
what the room made before. It lives in storage, not collab, because storage owns the images and
may ask collab who is a member (the layer order of docs/decisions/0011)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pydantic import ConfigDict, field_validator
from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from hub.accounts.actor import Actor
from hub.collab.access import access_room_member
from hub.errors import BadRequest
from hub.pagination import CURSOR_PATTERN, PageParams, decode_cursor, encode_cursor
from hub.storage.backends import Storage
from hub.storage.models import Image
from hub.storage.schemas import ImagePage
from hub.storage.service import image_view


def _cursor_position(cursor: str) -> tuple[datetime, str]:
    """The ``(created_at, image_id)`` a gallery cursor points after; BadRequest (400, as for every
    list: docs/api.md) for a cursor the gallery did not hand out."""
    created_at, image_id = decode_cursor(cursor)
    if created_at.tzinfo is None or not isinstance(image_id, str) or not 0 < len(image_id) <= 64:
        raise BadRequest("The cursor is not valid; start again without it.")
    return created_at, image_id


_CURSOR_RE = re.compile(CURSOR_PATTERN)


class GalleryQuery(PageParams):
    """``?cursor=&limit=``; a cursor outside the base64url alphabet is a 422 like any bad field
    (the schema's pattern), one that does not decode to a gallery position a 400."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("cursor")
    @classmethod
    def _alphabet(cls, value: str | None) -> str | None:
        if value and not _CURSOR_RE.fullmatch(value):
            raise ValueError("a cursor is unpadded base64url: copy next_cursor as it is")
        return value or None


async def list_room_images(
    session: AsyncSession, actor: Actor, slug: str, *, storage: Storage, query: GalleryQuery
) -> ImagePage:
    """The room's live images, newest first, paged on ``(created_at, image_id)`` (the index
    ``ix_images_room_created``). Members only: RoomNotFound (404) when the actor cannot see the
    room, NotRoomMember (403) when they could watch it but never joined."""
    await access_room_member(session, actor, slug)
    stmt = select(Image).where(col(Image.room_id) == slug, col(Image.deleted_at).is_(None))
    if query.cursor:
        created_at, image_id = _cursor_position(query.cursor)
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
    items: list[Any] = [image_view(storage, row) for row in rows]
    return ImagePage(items=items, next_cursor=next_cursor)
