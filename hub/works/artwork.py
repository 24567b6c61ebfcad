"""The artwork page's data: the work, its description as safe HTML, its discussion, and what
search engines read. A wrong slug in the URL is answered with the canonical URL (the page
redirects, 301), so old links survive a new title."""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup
from sqlalchemy.ext.asyncio import AsyncSession

from hub.accounts.actor import Actor
from hub.db import settings_of
from hub.forum.errors import ThreadNotFound
from hub.forum.service import ThreadRef, comment_counts, render_markdown, visible_thread
from hub.storage.backends import Storage
from hub.works.models import WorkStatus
from hub.works.remix import lineage
from hub.works.schemas import LineageOut, LineageQuery, WorkOut
from hub.works.seo import ArtworkSeo, artwork_seo
from hub.works.service import access_work, count_view
from hub.works.views import work_out, work_url

# Ancestors and remixes shown at first on the page; "More" pages on through the lineage API.
LINEAGE_PAGE = 8


@dataclass(frozen=True)
class Moved:
    url: str


@dataclass(frozen=True)
class ArtworkView:
    work: WorkOut
    description_html: Markup
    thread: ThreadRef | None
    comment_count: int
    seo: ArtworkSeo
    is_author: bool
    is_draft: bool
    lineage: LineageOut
    can_remix: bool = False


async def _discussion(
    session: AsyncSession, actor: Actor | None, thread_id: int | None
) -> tuple[ThreadRef | None, int]:
    if thread_id is None:
        return None, 0
    try:
        thread = await visible_thread(session, actor, thread_id)
    except ThreadNotFound:
        return None, 0  # deleted by its author or a moderator: the work stays
    counts = await comment_counts(session, [thread.id])
    return thread, counts.get(thread.id, 0)


async def artwork_view(
    session: AsyncSession,
    actor: Actor | None,
    work_id: int,
    *,
    slug: str | None,
    storage: Storage,
) -> ArtworkView | Moved:
    """The page of a work ``actor`` may see (404 otherwise), or :class:`Moved` when ``slug``
    is not the work's. Counts one view of a published work by someone but its author."""
    work = await access_work(session, actor, work_id)
    if slug != work.slug:
        return Moved(work_url(work))
    await count_view(session, actor, work)
    await session.refresh(work)
    view = await work_out(session, work, actor=actor, storage=storage)
    thread, comments = await _discussion(session, actor, work.thread_id)
    base = settings_of(session).public_url
    chain = await lineage(
        session, actor, work_id, LineageQuery(limit=LINEAGE_PAGE), storage=storage
    )
    listed = work.status == WorkStatus.published and work.hidden_at is None
    return ArtworkView(
        work=view,
        description_html=render_markdown(view.description) if view.description else Markup(""),
        thread=thread,
        comment_count=comments,
        seo=artwork_seo(base, view),
        is_author=actor is not None and actor.user_id == work.author_id,
        is_draft=work.status != WorkStatus.published,
        lineage=chain,
        can_remix=listed,
    )
