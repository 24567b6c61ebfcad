"""Search over HTTP: ``GET /api/v1/search`` and the ``/search`` page.

The engine and its rules live in :mod:`hub.search` (the bottom of the domain order, so that
every domain can index its rows). Its HTTP side lives here, in hub/web, because it needs the
caller (:func:`hub.accounts.deps.current_actor`: signed-in people also find their own private
documents), which a module of hub.search may not import; and because a page of hits shows
every domain (docs/search.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from hub.accounts.deps import current_actor
from hub.api import json_response, operation, parse_query, validate
from hub.context import get_ctx
from hub.errors import TokenInvalid
from hub.pages import render
from hub.search import service
from hub.search.models import DocKind
from hub.search.schemas import SearchItem, SearchPage, SearchQuery


@operation(
    "Search threads, comments, works, people and your images",
    query=SearchQuery,
    response=SearchPage,
    errors=(TokenInvalid,),
    tags=("search",),
)
async def search_api(request: Request) -> Response:
    """Anyone finds public documents; signed in, you also find your own private ones (drafts,
    your library images). Ranked by relevance when ``q`` has words, else newest first."""
    query = parse_query(request, SearchQuery)
    actor = await current_actor(request)
    async with get_ctx(request).db.unit_of_work() as session:
        page = await service.search(session, actor.user_id if actor else None, query)
    return json_response(page)


@dataclass(frozen=True)
class Hit:
    """A result as the page shows it."""

    item: SearchItem
    href: str
    heading: str


def _href(url: str) -> str:
    # Domains store site paths or http(s) media URLs; anything else is never made a link.
    return url if url.startswith(("/", "https://", "http://")) and not url.startswith("//") else "#"


def _hit(item: SearchItem) -> Hit:
    heading = item.title.strip() or item.snippet[:80] or item.kind.value
    return Hit(item=item, href=_href(item.url), heading=heading)


def _next_page_url(request: Request, cursor: str | None) -> str | None:
    if cursor is None:
        return None
    params = {k: v for k, v in request.query_params.items() if k != "cursor" and v}
    return "/search?" + urlencode({**params, "cursor": cursor})


async def search_page(request: Request) -> Response:
    """``/search``: a form and one page of hits, with a next-page link."""
    query = validate(SearchQuery, dict(request.query_params))
    actor = await current_actor(request)
    page: SearchPage | None = None
    asked = any(v.strip() for k, v in request.query_params.items() if k != "limit")
    if asked:
        async with get_ctx(request).db.unit_of_work() as session:
            page = await service.search(session, actor.user_id if actor else None, query)
    context = {
        "actor": actor,
        "q": query.q or "",
        "kind": query.kinds or "",
        "kinds": [k.value for k in DocKind],
        "asked": asked,
        "hits": [_hit(item) for item in page.items] if page else [],
        "next_url": _next_page_url(request, page.next_cursor if page else None),
        "is_first_page": query.cursor is None,
    }
    return render(request, "web/search.html", context)


routes: list[BaseRoute] = [
    Route("/api/v1/search", search_api, methods=["GET"], name="search"),
    Route("/search", search_page, methods=["GET"], name="search_page"),
]
