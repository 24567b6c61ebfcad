"""Templates and rooms: "use in a room" (a template, filled in, becomes a room's prompt document
and parameters) and "save as prompt" (a room's prompt and parameters become a template).

A room's document is a Yjs document held by the room server (``hub.collab``); the template is
written into it after the transaction commits by ``hub.collab.seeding`` (a server-side edit,
origin LOCAL: fanned out to everyone in the room, published to the other processes and stored
like an edit from a browser), so ``GET /api/v1/rooms/{slug}/document`` shows it once the request
has answered. The remix of a work (``hub.works.remix``) seeds its room the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from hub.accounts.deps import Actor
from hub.accounts.trust import CommunityAction, hit_community_limit
from hub.api import validate
from hub.collab.access import access_room
from hub.collab.content import read_document_of
from hub.collab.errors import RoomClosed
from hub.collab.models import RoomStatus
from hub.collab.rooms import create_room
from hub.collab.seeding import RoomSeed, seed_room_document
from hub.errors import ValidationFailed
from hub.outbox import after_commit
from hub.prompts.errors import RoomEditorsOnly
from hub.prompts.filling import Filled, fill_template
from hub.prompts.schemas import (
    PromptCreated,
    PromptCreateIn,
    PromptParams,
    SaveFromRoomIn,
    UseIn,
    UseOut,
)
from hub.prompts.service import access_prompt, count_use, create_prompt
from hub.ratelimit import RateLimiter
from rooms.room import PARAM_KEYS
from rooms.types import Role

if TYPE_CHECKING:
    from hub.collab.component import RoomsComponent
    from hub.prompts.index import PromptIndex

log = logging.getLogger(__name__)

ROOM_TITLE_CHARS = 120  # RoomCreateIn's limit


async def write_room_document(live: RoomsComponent, slug: str, filled: Filled) -> None:
    """Replace the room's prompt and negative prompt, and set the template's parameters (the
    room keeps the others), in one Yjs transaction."""
    seed = RoomSeed(
        prompt=filled.prompt, negative_prompt=filled.negative_prompt, params=filled.params
    )
    await seed_room_document(live, slug, seed)


async def _editable_room(session: AsyncSession, actor: Actor, slug: str) -> str:
    access = await access_room(session, actor, slug)  # 404 for rooms you may not see
    if access.room.state != RoomStatus.open:
        raise RoomClosed("The room is closed; it cannot be filled from a template.")
    if access.role is Role.VIEWER:
        raise RoomEditorsOnly()
    return access.room.slug


async def use_prompt(
    session: AsyncSession,
    actor: Actor,
    prompt_id: int,
    *,
    data: UseIn,
    limiter: RateLimiter,
    live: RoomsComponent,
) -> UseOut:
    """Fill the template's variables and put it into a new room (yours, private; the room
    creation limit applies) or into ``data.room``, which you edit. One more use is counted."""
    row = await access_prompt(session, actor, prompt_id)
    filled = fill_template(row, data.variables)
    await hit_community_limit(session, actor, limiter, CommunityAction.prompt)
    if data.room is not None:
        slug = await _editable_room(session, actor, data.room)
    else:
        title = row.title[:ROOM_TITLE_CHARS].strip() or "Prompt"
        slug = (await create_room(session, actor, limiter=limiter, title=title)).slug
    await count_use(session, prompt_id)

    async def seed() -> None:
        await write_room_document(live, slug, filled)

    after_commit(session, seed)
    return UseOut(room=slug)


def _room_params(raw: Any) -> dict[str, Any]:
    """The room's parameters a template can hold; values of the wrong shape are left out (room
    documents are written by browsers: a step count may arrive as 30.0)."""
    kept: dict[str, Any] = {}
    if not isinstance(raw, Mapping):
        return kept
    for key in PARAM_KEYS:
        value = raw.get(key)
        if isinstance(value, float) and value.is_integer() and key != "strength":
            value = int(value)
        if value is None or value == "":
            continue
        try:
            kept.update(PromptParams.model_validate({key: value}).as_dict())
        except ValidationError:
            log.info("room parameter left out of a saved prompt", extra={"param": key})
    return kept


async def save_room_prompt(
    session: AsyncSession,
    actor: Actor,
    *,
    data: SaveFromRoomIn,
    limiter: RateLimiter | None,
    live: RoomsComponent,
    index: PromptIndex | None = None,
) -> PromptCreated:
    """A new template from the room's current prompt, negative prompt and parameters (any room
    you may see; 422 naming ``body`` when its prompt is empty or too long)."""
    document = await read_document_of(session, actor, data.room, live=live)
    if not document.prompt.strip():
        raise ValidationFailed(
            "The room's prompt is empty: write a prompt first.",
            fields=[{"field": "body", "message": "the prompt is empty", "type": "empty_prompt"}],
        )
    fields = {
        "title": data.title,
        "body": document.prompt,
        "negative_prompt": document.negative,
        "tags": data.tags,
        "params": _room_params(document.params),
        "visibility": data.visibility,
    }
    if data.category is not None:
        fields["category"] = data.category
    created = validate(PromptCreateIn, fields)
    return await create_prompt(session, actor, data=created, limiter=limiter, index=index)
