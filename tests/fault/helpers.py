"""A scene for the fault tests that run ``hub serve`` processes: users and a room made straight
in the database the processes share."""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import col

from hub.accounts import service as accounts
from hub.collab import service
from hub.collab.models import Room, RoomMember
from hub.db import Database


async def room_with_two_editors(db: Database, *, title: str) -> tuple[str, str, str]:
    """A room owned by olivia, with edward as an editor: (slug, olivia's token, edward's)."""
    async with db.unit_of_work() as session:
        owner = await accounts.create_user(
            session, email="o@example.test", username="olivia", password=None
        )
        editor = await accounts.create_user(
            session, email="e@example.test", username="edward", password=None
        )
        _, owner_token = await accounts.create_personal_token(session, owner, name="t")
        _, editor_token = await accounts.create_personal_token(session, editor, name="t")
        room = await service.create_room(
            session, accounts.actor_for(owner, auth="api_token"), title=title
        )
        assert room is not None
    async with db.unit_of_work() as session:
        row = await session.scalar(select(Room).where(col(Room.slug) == room.slug))
        assert row is not None
        assert row.room_id is not None
        assert editor.user_id is not None
        session.add(RoomMember(room_id=row.room_id, user_id=editor.user_id, role="editor"))
    return room.slug, owner_token, editor_token
