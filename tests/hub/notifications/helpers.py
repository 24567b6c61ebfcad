"""Users with tokens and actors, for the notifications and social tests."""

from __future__ import annotations

from dataclasses import dataclass

from hub.accounts.actor import Actor
from hub.accounts.tokens import create_personal_token
from hub.accounts.users import actor_for, create_user
from hub.context import HubContext

API = "/api/v1"


@dataclass(frozen=True)
class Person:
    """A user with a personal token (no password: argon2 is slow by design)."""

    actor: Actor
    token: str

    @property
    def user_id(self) -> int:
        return self.actor.user_id

    @property
    def username(self) -> str:
        return self.actor.username

    @property
    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}"}


async def person(ctx: HubContext, username: str, display_name: str | None = None) -> Person:
    async with ctx.db.unit_of_work() as session:
        user = await create_user(
            session,
            email=f"{username}@example.test",
            username=username,
            password=None,
            display_name=display_name,
        )
        row, secret = await create_personal_token(session, user, name="tests")
        actor = actor_for(user, auth="api_token", token_id=str(row.token_id))
    return Person(actor, secret)


async def people(ctx: HubContext, prefix: str, count: int) -> list[Person]:
    return [await person(ctx, f"{prefix}{i:03d}") for i in range(count)]
