"""The images made in one room, for whoever may see the room (a work is published from them).

Apart from :mod:`hub.storage.service` because it reads across owners: the library there is
always one person's; this is one room's, and the room's visibility decides who reads it.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from hub.storage.backends import Storage
from hub.storage.models import Image
from hub.storage.schemas import ImageView
from hub.storage.service import RoomCheck, image_view


async def list_room_images(
    session: AsyncSession, slug: str, *, can_see_room: RoomCheck, storage: Storage, limit: int
) -> list[ImageView]:
    """The room's live images, newest first (at most ``limit``); none when ``can_see_room``
    says the caller may not see the room, as if it had none."""
    if not await can_see_room(session, slug):
        return []
    rows = await session.scalars(
        select(Image)
        .where(col(Image.room_id) == slug, col(Image.deleted_at).is_(None))
        .order_by(col(Image.created_at).desc(), col(Image.image_id).desc())
        .limit(limit)
    )
    return [image_view(storage, row) for row in rows]
