"""Feeds: the listed works, latest first, hottest first, or by the people you follow.

A page is two steps: the ids in order, by an index-only ordered scan of one partial index on
listed works (``ix_works_listed_*``, migration 0012), then their cards (:mod:`hub.works.cards`)
in a fixed number of queries. Paging is keyset on ``(sort key, work_id)``, both descending: the
``work_id`` breaks ties on the sort key (works published in the same instant, equal scores), so
a page never repeats or skips a work however many share a key. The cursor is opaque to clients
(unpadded base64url of ``[sort, key, id]``); one the hub did not make is 400 ``bad_request``.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import Select, Table, literal, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from hub.accounts.actor import Actor
from hub.errors import BadRequest, Unauthenticated
from hub.pagination import CURSOR_SCHEMA, DEFAULT_LIMIT, MAX_LIMIT
from hub.social.service import followee_ids
from hub.storage.backends import Storage
from hub.works.cards import WorkCard, listed_works, with_viewer, work_cards
from hub.works.feed_cache import FeedCache
from hub.works.models import Work

WORKS: Table = Work.metadata.tables[Work.__tablename__]
_W = WORKS.c

CATEGORY_PATTERN = "^[a-z0-9][a-z0-9-]{0,63}$"
_CURSOR_RE = re.compile(r"^[A-Za-z0-9_-]{1,200}$")
_MAX_ID = 2**63 - 1


class FeedSort(StrEnum):
    latest = "latest"  # newest first (published_at)
    hot = "hot"  # hot score first (hub.works.hot)
    following = "following"  # newest first, by the people you follow (sign-in needed)


class FeedQuery(BaseModel):
    sort: FeedSort = Field(FeedSort.latest, description="latest, hot or following.")
    category: str | None = Field(
        None, pattern=CATEGORY_PATTERN, description="Only works of this forum category."
    )
    cursor: str | None = Field(
        None,
        description="Opaque cursor from a previous page's next_cursor.",
        json_schema_extra=CURSOR_SCHEMA,
    )
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Items per page (1-100).")


class FeedPage(BaseModel):
    items: list[WorkCard]
    next_cursor: str | None = Field(
        None, description="Pass as ?cursor= for the next page; null at end."
    )


# --- cursors -------------------------------------------------------------------------------------


def _sort_key(sort: FeedSort) -> Any:
    return _W.hot_score if sort is FeedSort.hot else _W.published_at


def encode_feed_cursor(sort: FeedSort, key: datetime | float, work_id: int) -> str:
    value = key.isoformat() if isinstance(key, datetime) else key
    raw = json.dumps([sort.value, value, work_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _bad_cursor() -> BadRequest:
    return BadRequest("The cursor is not valid; start again without it.")


def _key_of(sort: FeedSort, value: Any) -> datetime | float:
    if sort is FeedSort.hot:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError("not a score")
        if not math.isfinite(value):
            raise ValueError("not a finite score")
        return float(value)
    if not isinstance(value, str):
        raise ValueError("not a timestamp")
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError("a timestamp without its zone")
    return moment


def decode_feed_cursor(sort: FeedSort, cursor: str) -> tuple[datetime | float, int]:
    """The ``(key, work_id)`` a page starts after; 400 for a cursor of another sort, or one the
    hub did not make."""
    try:
        if not _CURSOR_RE.fullmatch(cursor):
            raise ValueError("not base64url")
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        tag, value, work_id = json.loads(raw)
        if tag != sort.value:
            raise ValueError("a cursor of another feed")
        if isinstance(work_id, bool) or not isinstance(work_id, int) or not 0 < work_id <= _MAX_ID:
            raise ValueError("not a work id")
        return _key_of(sort, value), work_id
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise _bad_cursor() from exc


# --- pages ---------------------------------------------------------------------------------------


def paged(stmt: Select[Any], sort: FeedSort, cursor: str | None, limit: int) -> Select[Any]:
    """``stmt`` (which selects ``work_id`` and the sort key as ``key``) narrowed to the page
    after ``cursor``, newest or hottest first, one row more than ``limit`` (is there a next
    page?). 400 for a cursor the hub did not make."""
    key = _sort_key(sort)
    if cursor:
        after, work_id = decode_feed_cursor(sort, cursor)
        # Typed like the columns, so that SQLite compares timestamps in their stored format.
        bound = tuple_(literal(after, key.type), literal(work_id, _W.work_id.type))
        stmt = stmt.where(tuple_(key, _W.work_id) < bound)
    return stmt.order_by(key.desc(), _W.work_id.desc()).limit(limit + 1)


async def keyset_page(
    session: AsyncSession, stmt: Select[Any], sort: FeedSort, cursor: str | None, limit: int
) -> tuple[list[int], str | None]:
    """Run :func:`paged`; the ids and the next page's cursor (None at the end)."""
    rows = (await session.execute(paged(stmt, sort, cursor, limit))).all()
    page = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        next_cursor = encode_feed_cursor(sort, page[-1].key, page[-1].work_id)
    return [row.work_id for row in page], next_cursor


def keyed(sort: FeedSort) -> Select[Any]:
    """``SELECT work_id, <sort key> AS key FROM works WHERE <listed>``, to narrow and page."""
    return select(_W.work_id, _sort_key(sort).label("key")).where(*listed_works())


def feed_statement(
    sort: FeedSort, *, category: str | None = None, authors: Sequence[int] | None = None
) -> Select[Any]:
    """The ids of a feed in order, before paging (:func:`paged`); ``authors`` for following."""
    stmt = keyed(sort)
    if authors is not None:
        stmt = stmt.where(_W.author_id.in_(authors))
    if category is not None:
        stmt = stmt.where(_W.category == category)
    return stmt


async def feed_ids(
    session: AsyncSession,
    actor: Actor | None,
    *,
    sort: FeedSort,
    category: str | None = None,
    cursor: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> tuple[list[int], str | None]:
    """One page of the feed's work ids in order, and the next page's cursor (None at the end).
    ``following`` needs a signed-in ``actor`` (401) and lists the works of whom they follow."""
    sort = FeedSort(sort)
    authors = None
    if sort is FeedSort.following:
        if actor is None:
            raise Unauthenticated("Sign in to see the works of the people you follow.")
        authors = await followee_ids(session, actor.user_id)
        if not authors:
            return [], None
    stmt = feed_statement(sort, category=category, authors=authors)
    return await keyset_page(session, stmt, sort, cursor, limit)


def page_key(query: FeedQuery) -> tuple[str, str | None, str | None, int]:
    """What makes a public feed page (the cache key of :func:`shared_feed_page`)."""
    return (query.sort.value, query.category, query.cursor, query.limit)


async def shared_feed_page(
    session: AsyncSession,
    query: FeedQuery,
    *,
    storage: Storage | None = None,
    cache: FeedCache | None = None,
) -> FeedPage:
    """A latest or hot page as anyone sees it (no likes of a viewer), from ``cache`` when it
    has it (``hub.works.feed_cache``); never the following feed, which is per person."""
    if query.sort is FeedSort.following:
        raise ValueError("the following feed is per person; use feed_page")

    async def compute() -> FeedPage:
        ids, next_cursor = await feed_ids(
            session,
            None,
            sort=query.sort,
            category=query.category,
            cursor=query.cursor,
            limit=query.limit,
        )
        cards = await work_cards(session, None, ids, storage=storage)
        return FeedPage(items=cards, next_cursor=next_cursor)

    if cache is None:
        return await compute()
    return await cache.get(("page", *page_key(query)), compute)


async def feed_page(
    session: AsyncSession,
    actor: Actor | None,
    query: FeedQuery,
    *,
    storage: Storage | None = None,
    cache: FeedCache | None = None,
) -> FeedPage:
    """One page of the feed as ``actor`` sees it (their likes and favorites on the cards)."""
    if query.sort is FeedSort.following:
        ids, next_cursor = await feed_ids(
            session,
            actor,
            sort=query.sort,
            category=query.category,
            cursor=query.cursor,
            limit=query.limit,
        )
        cards = await work_cards(session, actor, ids, storage=storage)
        return FeedPage(items=cards, next_cursor=next_cursor)
    shared = await shared_feed_page(session, query, storage=storage, cache=cache)
    if actor is None:
        return shared
    items = await with_viewer(session, actor, shared.items)
    return FeedPage(items=items, next_cursor=shared.next_cursor)
