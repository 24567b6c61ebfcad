"""Where a work's images come from, and who may publish them.

* an image of your library (you own it, wherever it was made);
* an image made in a room where you are an editor or the owner, whoever pressed generate;
* one of your uploads, with the prompt and parameters you give it: it becomes an image of your
  library (stored the way generated images are, the prompt in the PNG's text chunks).

An image you may not see (someone else's, a private room's) is 404 like a missing one, so ids do
not leak; an image you see but may not publish (a public room you only watch) is 403.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from hub.accounts.actor import Actor
from hub.collab.access import RANK, access_room
from hub.collab.errors import RoomNotFound
from hub.errors import ValidationFailed
from hub.storage.backends import Storage
from hub.storage.errors import ImageNotFound, UploadNotFound
from hub.storage.keys import new_media_id
from hub.storage.models import Image, UploadPurpose
from hub.storage.service import access_upload, get_image, save_generated_image
from hub.works.errors import CannotPublishImage
from hub.works.schemas import UploadSourceIn
from rooms.types import Role

_MAX_SEED = 2**64


@dataclass(frozen=True)
class Sources:
    images: list[Image]  # in the work's order; the first is the cover
    room_slug: str | None  # the one room the images came from, if any


async def _publishable(session: AsyncSession, actor: Actor, image_id: str) -> Image:
    image = await get_image(session, image_id)
    if image is None:
        raise ImageNotFound()
    if image.owner_id == actor.user_id:
        return image
    if image.room_id is None:
        raise ImageNotFound()
    try:
        access = await access_room(session, actor, image.room_id)
    except RoomNotFound:
        raise ImageNotFound() from None
    if access.member is None or RANK[access.role] < RANK[Role.EDITOR]:
        raise CannotPublishImage()
    return image


def _seed(upload: UploadSourceIn) -> int:
    seed = upload.params.get("seed")
    if isinstance(seed, int) and not isinstance(seed, bool) and 0 <= seed < _MAX_SEED:
        return seed
    return 0


async def _from_upload(
    session: AsyncSession, actor: Actor, storage: Storage, source: UploadSourceIn
) -> Image:
    upload = await access_upload(session, actor, source.upload_id)
    if upload.purpose != UploadPurpose.source:
        raise UploadNotFound()  # avatars are not works
    data = await storage.get(upload.key)
    view = await save_generated_image(
        session,
        storage,
        owner_id=actor.user_id,
        # Images are keyed by the job that made them; an upload had none, so it gets an id of
        # its own (a job id the generation domain never made, and never looks up).
        job_id=new_media_id(),
        room_id=None,
        index=0,
        data=data,
        mime=upload.mime,
        width=upload.width,
        height=upload.height,
        seed=_seed(source),
        model=source.model,
        prompt=source.prompt,
        negative_prompt=source.negative_prompt,
        params=dict(source.params),
    )
    image = await get_image(session, view.image_id)
    if image is None:  # pragma: no cover - just flushed in this transaction
        raise RuntimeError("the saved image is missing")
    return image


def _one_room(images: Sequence[Image]) -> str | None:
    rooms = {image.room_id for image in images if image.room_id is not None}
    if len(rooms) > 1:
        raise ValidationFailed(
            fields=[
                {
                    "field": "image_ids",
                    "message": "the images come from different rooms; a work shows one room's",
                    "type": "mixed_rooms",
                }
            ]
        )
    return next(iter(rooms), None)


async def resolve_sources(
    session: AsyncSession,
    actor: Actor,
    storage: Storage,
    *,
    image_ids: Sequence[str],
    uploads: Sequence[UploadSourceIn],
) -> Sources:
    """Checks every image before storing any upload, so a refused request stores nothing (an
    upload stored before a later refusal would only leave files for the orphan cleanup)."""
    images = [await _publishable(session, actor, image_id) for image_id in image_ids]
    room_slug = _one_room(images)
    for source in uploads:
        await access_upload(session, actor, source.upload_id)
    for source in uploads:
        images.append(await _from_upload(session, actor, storage, source))
    return Sources(images=images, room_slug=room_slug)
