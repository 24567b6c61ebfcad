"""hub.accounts.roles: the site role order and the one check every domain uses."""

from __future__ import annotations

import pytest

from hub.accounts.actor import Actor
from hub.accounts.roles import UserRole, has_role, require_role
from hub.errors import Forbidden


def _actor(role: UserRole) -> Actor:
    return Actor(user_id=1, username="m", display_name="M", role=role, auth="session")


def test_roles_are_ordered_user_moderator_admin() -> None:
    assert [role.rank for role in UserRole] == [0, 1, 2]
    assert [str(role) for role in UserRole] == ["user", "moderator", "admin"]


def test_require_role_admits_the_role_and_those_above() -> None:
    moderator = _actor(UserRole.MODERATOR)
    require_role(moderator, UserRole.USER, to="read")
    require_role(moderator, UserRole.MODERATOR, to="moderate")
    with pytest.raises(Forbidden, match="Only admins can change roles"):
        require_role(moderator, UserRole.ADMIN, to="change roles")
    with pytest.raises(Forbidden, match="Only moderators and admins can moderate"):
        require_role(_actor(UserRole.USER), UserRole.MODERATOR, to="moderate")


def test_has_role_reads_plain_strings_too() -> None:
    # Other domains type their callers as "anything with a str role" (credits, generation).
    class Caller:
        role = "admin"

    assert has_role(Caller(), UserRole.ADMIN)
    assert has_role(_actor(UserRole.ADMIN), UserRole.MODERATOR)
    assert not has_role(_actor(UserRole.MODERATOR), UserRole.ADMIN)
