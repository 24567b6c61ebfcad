"""The room-role vocabulary is written once, in rooms.types.Role; the API's subsets follow it."""

from __future__ import annotations

from typing import get_args

from hub.collab.schemas import GrantableRole
from rooms.types import Role


def test_grantable_roles_are_the_roles_below_owner() -> None:
    assert {Role(value) for value in get_args(GrantableRole)} == set(Role) - {Role.OWNER}
