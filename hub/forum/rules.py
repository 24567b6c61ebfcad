"""The forum's checks on text and on who may change what, shared by threads and comments.

The contract functions (``create_thread``, ``add_comment``) are called by other domains without
the API's schemas in front, so the text rules are checked here again, in the service.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from hub import text
from hub.accounts.actor import Actor
from hub.accounts.roles import UserRole, has_role
from hub.db import settings_of
from hub.errors import Forbidden, ValidationFailed
from hub.forum.errors import BodyTooLong, ThreadLocked
from hub.forum.schemas import MAX_TITLE


def _invalid(field: str, message: str, kind: str = "value_error") -> ValidationFailed:
    return ValidationFailed(fields=[{"field": field, "message": message, "type": kind}])


def check_title(title: str) -> str:
    """The title stripped; 422 when blank, too long or holding invisible characters."""
    if text.refused_character(title) is not None:
        raise _invalid("title", "must not contain control or invisible characters")
    title = title.strip()
    if not title:
        raise _invalid("title", "must not be blank")
    if len(title) > MAX_TITLE:
        raise _invalid("title", f"must be at most {MAX_TITLE} characters")
    return title


def check_body(session: AsyncSession, body: str) -> str:
    """413 past ``HUB_FORUM_MAX_BODY_CHARS``; 422 when blank or holding NUL."""
    limit = settings_of(session).forum_max_body_chars
    if len(body) > limit:
        raise BodyTooLong(
            f"The text is {len(body)} characters long; the most is {limit}.", limit=limit
        )
    if "\x00" in body:
        raise _invalid("body", "must not contain NUL characters")
    if not body.strip():
        raise _invalid("body", "must not be blank")
    return body


def unknown(field: str, message: str, kind: str) -> ValidationFailed:
    """422 for a body field that names nothing (an unknown category, say)."""
    return _invalid(field, message, kind)


def is_moderator(actor: Actor | None) -> bool:
    return actor is not None and has_role(actor, UserRole.MODERATOR)


def require_author_or_moderator(actor: Actor, author_id: int, *, locked: bool, to: str) -> None:
    """Authors change their own posts while the thread is open (409 when locked); moderators
    change any post, locked or not; anyone else gets 403."""
    if is_moderator(actor):
        return
    if actor.user_id != author_id:
        raise Forbidden(f"Only the author or a moderator can {to}.")
    if locked:
        raise ThreadLocked()
