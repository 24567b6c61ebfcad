"""A scene for the fault tests that run ``hub serve`` processes: users and a room made straight
in the database the processes share."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlmodel import col

from hub.accounts.tokens import create_personal_token
from hub.accounts.users import actor_for, create_user
from hub.collab.models import RoomMember, RoomRecord
from hub.collab.rooms import create_room
from hub.db import Database
from hub.ratelimit import RateLimiter
from rooms.types import Role


async def room_with_editors(
    db: Database, *, title: str, editors: Sequence[str]
) -> tuple[str, str, list[str]]:
    """A room owned by olivia with ``editors`` (usernames) as editors: (slug, olivia's token,
    the editors' tokens in order). No passwords: argon2 is slow by design."""
    async with db.unit_of_work() as session:
        owner = await create_user(session, email="o@example.test", username="olivia", password=None)
        _, owner_token = await create_personal_token(session, owner, name="t")
        people = []
        for name in editors:
            user = await create_user(
                session, email=f"{name}@example.test", username=name, password=None
            )
            people.append((user, (await create_personal_token(session, user, name="t"))[1]))
        room = await create_room(
            session, actor_for(owner, auth="api_token"), limiter=RateLimiter(), title=title
        )
        assert room is not None
    async with db.unit_of_work() as session:
        row = await session.scalar(select(RoomRecord).where(col(RoomRecord.slug) == room.slug))
        assert row is not None
        assert row.room_id is not None
        for user, _ in people:
            assert user.user_id is not None
            session.add(RoomMember(room_id=row.room_id, user_id=user.user_id, role=Role.EDITOR))
    return room.slug, owner_token, [token for _, token in people]


async def room_with_two_editors(db: Database, *, title: str) -> tuple[str, str, str]:
    """A room owned by olivia, with edward as an editor: (slug, olivia's token, edward's)."""
    slug, owner_token, (editor_token,) = await room_with_editors(
        db, title=title, editors=["edward"]
    )
    return slug, owner_token, editor_token
