"""Work cards: what a list of works (feeds, profiles, favorites) shows of each work.

:func:`work_cards` turns ids into cards in a fixed number of queries whatever the page size: the
works' list columns (never the prompt history), their cover images (storage), their authors
(accounts) and, for a signed-in viewer, which of them they liked and favorited (social).
Only published, live, visible works become cards: a list never shows a draft, a deleted or a
hidden work, whoever asks, so the lists need no permission checks of their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime

from pydantic import BaseModel, Field
from sqlalchemy import Table, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from hub.accounts.actor import Actor
from hub.accounts.users import get_users
from hub.social.service import ReactionKind, TargetType, reacted_ids
from hub.storage.backends import Storage
from hub.storage.service import image_links
from hub.works.models import Work, WorkStatus

WORKS: Table = Work.metadata.tables[Work.__tablename__]
_W = WORKS.c

# A list shows at most this many cards at once (the API's page limit).
MAX_CARDS = 100

# The rows a card is made of: the list columns only (no prompt, params or history).
_CARD_COLUMNS = (
    _W.work_id,
    _W.author_id,
    _W.title,
    _W.slug,
    _W.category,
    _W.model,
    _W.cover_image_id,
    _W.like_count,
    _W.favorite_count,
    _W.comment_count,
    _W.view_count,
    _W.remix_count,
    _W.published_at,
)


def listed_works() -> list[ColumnElement[bool]]:
    """The WHERE terms of "may appear in a list": published, not deleted, not hidden. The status
    is a literal, not a bound parameter, so that the planners of both databases may use the
    partial feed indexes, whose predicate is this (docs/community.md, "Reading cheaply")."""
    return [
        _W.status == literal_column(f"'{WorkStatus.published.value}'"),
        _W.deleted_at.is_(None),
        _W.hidden_at.is_(None),
    ]


def work_url(work_id: int, slug: str) -> str:
    """The artwork page's path (``/artwork/{id}/{slug}``)."""
    return f"/artwork/{work_id}/{slug}" if slug else f"/artwork/{work_id}"


class CardAuthor(BaseModel):
    user_id: int
    username: str
    display_name: str
    avatar_url: str
    url: str = Field(description="The author's profile page.")


class CardImage(BaseModel):
    url: str
    thumb_url: str = Field(description="The longer side at most 512 px.")
    square_url: str = Field(description="200 x 200.")
    width: int
    height: int


class WorkCard(BaseModel):
    work_id: int
    title: str
    slug: str
    url: str = Field(description="The artwork page: /artwork/{id}/{slug}.")
    category: str | None
    model: str
    author: CardAuthor
    cover: CardImage | None = Field(description="None when the cover image is gone.")
    like_count: int
    favorite_count: int
    comment_count: int
    view_count: int
    remix_count: int = Field(description="Published remixes of it.")
    published_at: datetime
    liked: bool = Field(description="Whether you liked it (false when not signed in).")
    favorited: bool = Field(description="Whether you favorited it (false when not signed in).")


async def _reactions(
    session: AsyncSession, actor: Actor | None, ids: Sequence[int]
) -> tuple[set[int], set[int]]:
    if actor is None or not ids:
        return set(), set()
    liked = await reacted_ids(session, actor.user_id, TargetType.work, ReactionKind.like, ids)
    favorited = await reacted_ids(
        session, actor.user_id, TargetType.work, ReactionKind.favorite, ids
    )
    return liked, favorited


async def work_cards(
    session: AsyncSession,
    actor: Actor | None,
    work_ids: Sequence[int],
    *,
    storage: Storage | None = None,
) -> list[WorkCard]:
    """Cards of the listed works among ``work_ids``, in the order given (duplicates once).
    Drafts, deleted and hidden works are left out. ``storage``: the process's media backend,
    for its direct image URLs (else ``/media/...``, see ``hub.storage.service.image_links``)."""
    wanted = list(dict.fromkeys(work_ids))[:MAX_CARDS]
    if not wanted:
        return []
    stmt = select(*_CARD_COLUMNS).where(_W.work_id.in_(wanted), *listed_works())
    rows = {row.work_id: row for row in (await session.execute(stmt)).all()}
    ids = [work_id for work_id in wanted if work_id in rows]
    covers = await image_links(
        session, [c for i in ids if (c := rows[i].cover_image_id) is not None], storage
    )
    authors = await get_users(session, {rows[i].author_id for i in ids})
    liked, favorited = await _reactions(session, actor, ids)
    cards = []
    for work_id in ids:
        row = rows[work_id]
        author = authors.get(row.author_id)
        if author is None or row.published_at is None:  # pragma: no cover - FKs forbid it
            continue
        cover = covers.get(row.cover_image_id) if row.cover_image_id else None
        cards.append(
            WorkCard(
                work_id=work_id,
                title=row.title,
                slug=row.slug,
                url=work_url(work_id, row.slug),
                category=row.category,
                model=row.model,
                author=CardAuthor(
                    user_id=author.user_id,
                    username=author.username,
                    display_name=author.display_name,
                    avatar_url=author.avatar_url,
                    url=f"/u/{author.username}",
                ),
                cover=CardImage(**asdict(cover)) if cover is not None else None,
                like_count=row.like_count,
                favorite_count=row.favorite_count,
                comment_count=row.comment_count,
                view_count=row.view_count,
                remix_count=row.remix_count,
                published_at=row.published_at,
                liked=work_id in liked,
                favorited=work_id in favorited,
            )
        )
    return cards


async def with_viewer(
    session: AsyncSession, actor: Actor | None, cards: Sequence[WorkCard]
) -> list[WorkCard]:
    """``cards`` made for anyone (a cached page) with the viewer's likes and favorites set;
    copies, so the shared cards stay as they were."""
    liked, favorited = await _reactions(session, actor, [card.work_id for card in cards])
    if not liked and not favorited:
        return list(cards)
    return [
        card.model_copy(
            update={"liked": card.work_id in liked, "favorited": card.work_id in favorited}
        )
        for card in cards
    ]
