"""Seeding a room's document from outside the room: a prompt template ("use in a room",
``hub.prompts.use``) or a published work ("remix", ``hub.works.remix``).

The seed is written after the transaction that made or chose the room commits, as a server-side
edit (``RoomServer.direct``, origin LOCAL): it reaches everyone in the room, the other processes
and the store like an edit from a browser, and a refused request changes no room.

A seed may carry an img2img source in the parameters, under :data:`SOURCE_PARAM`:
``{"ref": str, "url": str, "width": int, "height": int}``. ``ref`` is what a generation request
takes as ``source_image_key`` (the storage key of an upload of the room's owner), ``url`` where
a browser shows it. The room page reads it; docs/works.md ("Remix") is the contract.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pycrdt import Map

from rooms.room import NEGATIVE, PARAMS, PROMPT, replace_text

if TYPE_CHECKING:
    from hub.collab.component import RoomsComponent

# The room parameter that names an img2img source (see the module's docstring for its shape).
SOURCE_PARAM = "source_image"


@dataclass(frozen=True)
class RoomSeed:
    """What a room's document becomes: the prompt and negative prompt replace the room's, the
    parameters are set one by one (the room keeps those the seed leaves out)."""

    prompt: str
    negative_prompt: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)


def source_param(*, ref: str, url: str, width: int, height: int) -> dict[str, Any]:
    """The value of :data:`SOURCE_PARAM`."""
    return {"ref": ref, "url": url, "width": int(width), "height": int(height)}


async def seed_room_document(live: RoomsComponent, slug: str, seed: RoomSeed) -> None:
    """Write ``seed`` into the room's document in one Yjs transaction (call it after commit)."""
    async with live.server.direct(slug) as doc:
        with doc.transaction():
            replace_text(doc, PROMPT, seed.prompt)
            replace_text(doc, NEGATIVE, seed.negative_prompt)
            params = doc.get(PARAMS, type=Map)
            for key, value in seed.params.items():
                # A mapping (the source image) is stored as one plain JSON value, not a nested
                # Yjs map: clients read it with params.get(key) like the other parameters, and
                # it is only ever replaced whole. Numbers in it come back as floats (Yjs).
                params[key] = dict(value) if isinstance(value, Mapping) else value
