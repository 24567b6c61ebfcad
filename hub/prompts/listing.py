"""Lists of templates: public ones, yours, your favorites; by tag, category, author and the
official mark; newest or most used first, cursor-paged on ``(sort key, prompt_id)``.

A cursor holds the sort it was made for, so a cursor of one sort given to another is a 400 like
any cursor the hub did not make.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.accounts.deps import Actor
from hub.accounts.users import get_user_by_username
from hub.errors import BadRequest, Unauthenticated
from hub.pagination import CURSOR_PATTERN
from hub.prompts.models import PromptVisibility
from hub.prompts.schemas import PromptListQuery, PromptPage
from hub.prompts.service import FAVORITES, TAGS, TEMPLATES, as_template, prompt_views
from hub.prompts.tokens import normalize

_BAD_CURSOR = "The cursor is not valid; start again without it."
_CURSOR = re.compile(CURSOR_PATTERN)


def encode_cursor(sort: str, key: Any, prompt_id: int) -> str:
    if isinstance(key, datetime):
        key = key.isoformat()
    raw = json.dumps([sort, key, prompt_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(sort: str, cursor: str) -> tuple[Any, int]:
    """The ``(sort key, prompt_id)`` after which the page starts; BadRequest for a cursor of
    another sort or one the hub did not make."""
    try:
        if not _CURSOR.fullmatch(cursor):
            raise ValueError("not base64url")  # b64decode would skip stray characters
        padded = cursor + "=" * (-len(cursor) % 4)
        made_for, key, prompt_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if made_for != sort or not isinstance(prompt_id, int) or isinstance(prompt_id, bool):
            raise ValueError("cursor of another list")
        if sort == "new":
            key = datetime.fromisoformat(key)
            if key.tzinfo is None:
                raise ValueError("naive time")
        elif not isinstance(key, int) or isinstance(key, bool):
            raise ValueError("not a count")
        return key, prompt_id
    except (ValueError, TypeError, json.JSONDecodeError) as exc:
        raise BadRequest(_BAD_CURSOR) from exc


def _sort_column(sort: str) -> Any:
    return TEMPLATES.c.created_at if sort == "new" else TEMPLATES.c.usage_count


def _after(sort: str, cursor: str) -> ColumnElement[bool]:
    key, prompt_id = decode_cursor(sort, cursor)
    column = _sort_column(sort)
    return or_(column < key, and_(column == key, TEMPLATES.c.prompt_id < prompt_id))


async def _scoped(
    session: AsyncSession, actor: Actor | None, query: PromptListQuery
) -> Select[Any] | None:
    """The templates of the list's scope and filters; None when it is certainly empty."""
    t = TEMPLATES.c
    stmt = select(TEMPLATES).where(t.deleted_at.is_(None))
    mine = or_(
        t.visibility == PromptVisibility.public.value,
        t.author_id == (actor.user_id if actor else -1),
    )
    if query.scope == "public":
        stmt = stmt.where(t.visibility == PromptVisibility.public.value)
    elif actor is None:
        raise Unauthenticated(f"Sign in to list your {query.scope} prompts.")
    elif query.scope == "mine":
        stmt = stmt.where(t.author_id == actor.user_id)
    else:
        stmt = stmt.join(FAVORITES, FAVORITES.c.prompt_id == t.prompt_id).where(
            FAVORITES.c.user_id == actor.user_id, mine
        )
    if query.author is not None:
        author = await get_user_by_username(session, query.author)
        if author is None:
            return None
        stmt = stmt.where(t.author_id == author.user_id)
    if query.tag is not None:
        tagged = select(TAGS.c.prompt_id).where(TAGS.c.tag == normalize(query.tag.strip()))
        stmt = stmt.where(t.prompt_id.in_(tagged))
    if query.category is not None:
        stmt = stmt.where(t.category == normalize(query.category.strip()))
    if query.official is not None:
        stmt = stmt.where(t.official == query.official)
    return stmt


async def list_prompts(
    session: AsyncSession, actor: Actor | None, *, query: PromptListQuery
) -> PromptPage:
    stmt = await _scoped(session, actor, query)
    if query.cursor is not None:
        condition = _after(query.sort, query.cursor)  # a bad cursor is 400 even on an empty list
        stmt = stmt.where(condition) if stmt is not None else None
    if stmt is None:
        return PromptPage(items=[], next_cursor=None)
    column = _sort_column(query.sort)
    stmt = stmt.order_by(column.desc(), TEMPLATES.c.prompt_id.desc()).limit(query.limit + 1)
    rows = [as_template(r) for r in (await session.execute(stmt)).all()]
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    items = await prompt_views(session, actor, rows)
    next_cursor = None
    if more:
        last = rows[-1]
        key = last.created_at if query.sort == "new" else last.usage_count
        next_cursor = encode_cursor(query.sort, key, last.prompt_id or 0)
    return PromptPage(items=items, next_cursor=next_cursor)
