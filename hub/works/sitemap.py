"""``/sitemap.xml`` and ``/robots.txt``: how search engines find every public page.

``/sitemap.xml`` is a sitemap *index* (sitemaps.org protocol) of files
``/sitemaps/{kind}-{chunk}.xml``: ``site`` (the start page, the feed, the forum and its
categories), then ``works``, ``threads`` and ``profiles``, each kind cut into chunks of
``HUB_SITEMAP_CHUNK`` consecutive ids, so a file never passes the protocol's 50,000 URLs and
each is one range scan of a primary key, however large the hub grows. Only chunks holding at
least one public page are listed, each with the latest change in it as ``lastmod``. Works are
the published ones (drafts, hidden and deleted works are not public); threads and profiles come
from their domains (``hub.forum.sitemap``, ``hub.accounts.directory``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from hub.accounts.directory import profile_chunks, profile_locations
from hub.context import get_ctx
from hub.db import settings_of
from hub.errors import NotFound
from hub.forum.categories import category_url, list_categories
from hub.forum.sitemap import thread_chunks, thread_locations
from hub.works.cards import listed_works
from hub.works.models import Work

XML = "application/xml"
_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
_MAX_CHUNK = 10**9  # a chunk number past any id range: 404 without a query

Chunks = Callable[[AsyncSession, int], Awaitable[Sequence[tuple[int, datetime | None]]]]
Locations = Callable[[AsyncSession, int, int], Awaitable[Sequence[tuple[str, datetime | None]]]]


async def work_chunks(session: AsyncSession, size: int) -> list[tuple[int, datetime]]:
    chunk: Any = (col(Work.work_id) - 1) // size
    rows = await session.execute(
        select(chunk, func.max(col(Work.updated_at)))
        .where(*listed_works())
        .group_by(chunk)
        .order_by(chunk)
    )
    return [(int(row[0]), row[1]) for row in rows]


async def work_locations(
    session: AsyncSession, chunk: int, size: int
) -> list[tuple[str, datetime]]:
    rows = await session.execute(
        select(col(Work.work_id), col(Work.slug), col(Work.updated_at))
        .where(
            *listed_works(),
            col(Work.work_id) > chunk * size,
            col(Work.work_id) <= (chunk + 1) * size,
        )
        .order_by(col(Work.work_id))
    )
    return [(f"/artwork/{wid}/{slug}", latest) for wid, slug, latest in rows]


async def _site_chunks(session: AsyncSession, size: int) -> list[tuple[int, datetime | None]]:
    return [(0, None)]


async def site_locations(
    session: AsyncSession, chunk: int, size: int
) -> list[tuple[str, datetime | None]]:
    if chunk != 0:
        return []
    paths = ["/", "/feed", "/forum"]
    paths += [category_url(c.slug) for c in await list_categories(session)]
    return [(path, None) for path in paths]


KINDS: dict[str, tuple[Chunks, Locations]] = {
    "site": (_site_chunks, site_locations),
    "works": (work_chunks, work_locations),
    "threads": (thread_chunks, thread_locations),
    "profiles": (profile_chunks, profile_locations),
}


def _lastmod(moment: datetime | None) -> str:
    if moment is None:
        return ""
    aware = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return f"<lastmod>{aware.strftime('%Y-%m-%dT%H:%M:%SZ')}</lastmod>"


def _document(root: str, entries: Iterable[str]) -> str:
    body = "".join(entries)
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} xmlns="{_NS}">{body}</{root}>\n'


async def sitemap_index(session: AsyncSession) -> str:
    settings = settings_of(session)
    base, size = settings.public_url.rstrip("/"), settings.sitemap_chunk
    entries: list[str] = []
    for kind, (chunks, _) in KINDS.items():
        for chunk, latest in await chunks(session, size):
            loc = escape(f"{base}/sitemaps/{kind}-{chunk}.xml")
            entries.append(f"<sitemap><loc>{loc}</loc>{_lastmod(latest)}</sitemap>")
    return _document("sitemapindex", entries)


async def sitemap_file(session: AsyncSession, kind: str, chunk: int) -> str:
    """One file of the index; NotFound for a kind or chunk that holds no page."""
    if kind not in KINDS or not 0 <= chunk < _MAX_CHUNK:
        raise NotFound()
    settings = settings_of(session)
    base, size = settings.public_url.rstrip("/"), settings.sitemap_chunk
    locations = await KINDS[kind][1](session, chunk, size)
    if not locations:
        raise NotFound()
    entries = [
        f"<url><loc>{escape(base + path)}</loc>{_lastmod(latest)}</url>"
        for path, latest in locations
    ]
    return _document("urlset", entries)


# --- routes --------------------------------------------------------------------------------------


async def sitemap_xml(request: Request) -> Response:
    async with get_ctx(request).db.unit_of_work() as session:
        document = await sitemap_index(session)
    return Response(document, media_type=XML)


async def sitemap_chunk(request: Request) -> Response:
    name = str(request.path_params["name"])
    kind, _, number = name.rpartition("-")
    if not number.isascii() or not number.isdigit() or len(number) > 9:
        raise NotFound()
    async with get_ctx(request).db.unit_of_work() as session:
        document = await sitemap_file(session, kind, int(number))
    return Response(document, media_type=XML)


# Private or personal pages, and the API: nothing for a search engine to index.
DISALLOWED = (
    "/api/",
    "/r/",
    "/join/",
    "/images",
    "/works/new",
    "/login",
    "/register",
    "/logout",
    "/notifications",
)


async def robots_txt(request: Request) -> Response:
    base = get_ctx(request).settings.public_url.rstrip("/")
    lines = ["User-agent: *", *(f"Disallow: {path}" for path in DISALLOWED), "Allow: /", ""]
    lines.append(f"Sitemap: {base}/sitemap.xml")
    return PlainTextResponse("\n".join(lines) + "\n")


routes: list[BaseRoute] = [
    Route("/sitemap.xml", sitemap_xml, methods=["GET"], name="sitemap"),
    Route("/sitemaps/{name}.xml", sitemap_chunk, methods=["GET"], name="sitemap_chunk"),
    Route("/robots.txt", robots_txt, methods=["GET"], name="robots"),
]
