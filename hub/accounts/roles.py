"""Site roles, written once, and the one check on them.

:class:`UserRole` is the hub-wide vocabulary, ordered ``user`` < ``moderator`` < ``admin``: each
role may do what the roles below it may. The ``users.role`` CHECK constraint, the API schemas
(the ``UserRole`` component of the OpenAPI document), :class:`~hub.accounts.actor.Actor`, the
command line and every permission check take it from here. Room roles (owner, editor, viewer)
are another vocabulary and live in collab.

Every check of a site role goes through :func:`has_role` (for "admins see everything" kinds of
filter) or :func:`require_role` (a rule: 403 ``forbidden`` otherwise). Services call them where
they hold their other permission checks (docs/accounts.md, "Roles and authorization").
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from hub.errors import Forbidden


class UserRole(StrEnum):
    USER = "user"
    MODERATOR = "moderator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        """Position in the order above (the definition order of the members)."""
        return list(UserRole).index(self)


class HasRole(Protocol):
    """Any caller with a site role: ``Actor``, or the small actor protocols of other domains."""

    @property
    def role(self) -> str: ...


# Who passes require_role(minimum), for its error message.
_WHO = {
    UserRole.USER: "signed-in users",
    UserRole.MODERATOR: "moderators and admins",
    UserRole.ADMIN: "admins",
}


def has_role(actor: HasRole, minimum: UserRole) -> bool:
    """Whether ``actor``'s site role is ``minimum`` or a higher one."""
    return UserRole(actor.role).rank >= minimum.rank


def require_role(actor: HasRole, minimum: UserRole, *, to: str) -> None:
    """403 ``forbidden`` ("Only admins can {to}.") unless ``actor`` has ``minimum`` or higher."""
    if not has_role(actor, minimum):
        raise Forbidden(f"Only {_WHO[minimum]} can {to}.")
