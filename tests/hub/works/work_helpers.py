"""People, rooms, room history and images for the works tests.

Rooms and memberships are made through the API; a room's prompt history is written to the
store the way a live room flushes it (Yjs updates with their author, then a compaction), and
images the way the generation worker saves them (``storage.save_generated_image``).
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx
from PIL import Image as PILImage
from pycrdt import Doc, Text, merge_updates
from sqlalchemy import update

from hub.accounts.models import User
from hub.collab.models import RoomSnapshot, RoomUpdate
from hub.context import HubContext
from hub.storage.keys import new_media_id
from hub.storage.service import save_generated_image
from hub.works.models import Work
from rooms.room import NEGATIVE, PROMPT, delete_text, insert_text, new_document
from rooms.store import UpdateRecord
from tests.hub.notifications.helpers import Person, person

API = "/api/v1"
_batches = itertools.count(1)


async def veteran(ctx: HubContext, username: str, display_name: str | None = None) -> Person:
    """A person whose account is old enough for the normal (not the new-account) limits."""
    who = await person(ctx, username, display_name)
    async with ctx.db.unit_of_work() as session:
        await session.execute(
            update(User)
            .where(User.user_id == who.user_id)  # type: ignore[arg-type]
            .values(created_at=datetime(2026, 1, 1, tzinfo=UTC))
        )
    return who


async def make_room(
    client: httpx.AsyncClient, owner: Person, title: str = "Lighthouse", **fields: Any
) -> str:
    response = await client.post(
        f"{API}/rooms", json={"title": title, **fields}, headers=owner.headers
    )
    assert response.status_code == 201, response.text
    slug: str = response.json()["slug"]
    return slug


async def join(
    client: httpx.AsyncClient, owner: Person, slug: str, member: Person, role: str = "editor"
) -> None:
    invite = await client.post(
        f"{API}/rooms/{slug}/invites", json={"role": role}, headers=owner.headers
    )
    assert invite.status_code == 201, invite.text
    accepted = await client.post(
        f"{API}/invites/{invite.json()['token']}/accept", headers=member.headers
    )
    assert accepted.status_code == 200, accepted.text


@dataclass
class RoomWriter:
    """Writes a room's prompt history into the store, one flush per :meth:`edit`."""

    ctx: HubContext
    slug: str
    doc: Doc[Any]

    async def edit(self, who: Person | None, change: Callable[[Doc[Any]], None]) -> None:
        before = self.doc.get_state()
        change(self.doc)
        data = self.doc.get_update(before)
        author = str(who.user_id) if who is not None else None
        stored = await self.ctx.rooms.store.append_updates(  # type: ignore[union-attr]
            self.slug, [UpdateRecord(data, author)], writer="tests", batch=next(_batches)
        )
        assert stored

    async def type(self, who: Person | None, text: str, at: int | None = None) -> None:
        def insert(doc: Doc[Any]) -> None:
            prompt = doc.get(PROMPT, type=Text)
            insert_text(prompt, len(str(prompt)) if at is None else at, text)

        await self.edit(who, insert)

    async def erase(self, who: Person | None, start: int, length: int) -> None:
        await self.edit(who, lambda doc: delete_text(doc.get(PROMPT, type=Text), start, length))

    async def negative(self, who: Person | None, text: str) -> None:
        await self.edit(who, lambda doc: insert_text(doc.get(NEGATIVE, type=Text), 0, text))

    async def compact(self) -> None:
        store = self.ctx.rooms.store  # type: ignore[union-attr]
        base = await store.load(self.slug)
        snapshot = await store.compact(self.slug, merge_updates(*base.all_updates), base=base)
        assert snapshot is not None


def room_writer(ctx: HubContext, slug: str) -> RoomWriter:
    return RoomWriter(ctx, slug, new_document())


async def age_history(ctx: HubContext, slug: str, when: datetime) -> None:
    """Dates every stored change of the room at ``when`` (edits are stored "now")."""
    async with ctx.db.unit_of_work() as session:
        for table in (RoomUpdate, RoomSnapshot):
            await session.execute(
                update(table).where(table.room == slug).values(created_at=when)  # type: ignore[arg-type]
            )


def png(size: tuple[int, int] = (64, 48), color: tuple[int, int, int] = (30, 90, 200)) -> bytes:
    buffer = io.BytesIO()
    PILImage.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


class Owner(Protocol):
    @property
    def user_id(self) -> int: ...


@dataclass(frozen=True)
class UserId:
    """Someone known by id alone (a user signed up through the API with a cookie)."""

    user_id: int


async def generated(
    ctx: HubContext,
    owner: Owner,
    *,
    room: str | None = None,
    prompt: str = "a lighthouse at dusk",
    negative: str = "fog",
    model: str = "offline-sketch",
    seed: int = 42,
) -> str:
    """An image made by a job of ``owner`` (in ``room``), as the worker stores it."""
    async with ctx.db.unit_of_work() as session:
        view = await save_generated_image(
            session,
            ctx.storage,
            owner_id=owner.user_id,
            job_id=new_media_id(),
            room_id=room,
            index=0,
            data=png(),
            mime="image/png",
            width=64,
            height=48,
            seed=seed,
            model=model,
            prompt=prompt,
            negative_prompt=negative,
            params={"steps": 6, "size": "64x48"},
        )
    return view.image_id


async def work_row(ctx: HubContext, work_id: int) -> Work:
    async with ctx.db.unit_of_work() as session:
        work = await session.get(Work, work_id)
        assert work is not None
        return work


async def create(client: httpx.AsyncClient, who: Person, **body: Any) -> httpx.Response:
    body.setdefault("title", "Lighthouse at dusk")
    return await client.post(f"{API}/works", json=body, headers=who.headers)


async def created(client: httpx.AsyncClient, who: Person, **body: Any) -> dict[str, Any]:
    response = await create(client, who, **body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result
