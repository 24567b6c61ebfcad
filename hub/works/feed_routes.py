"""The feeds' JSON API: ``GET /api/v1/feed`` and a person's works and favorites. Public: a
visitor without an account reads them all; signed in, the cards say what you liked."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from hub.accounts.deps import current_actor
from hub.api import json_response, operation, parse_query
from hub.context import get_ctx
from hub.errors import BadRequest, NotFound, TokenInvalid, Unauthenticated
from hub.pagination import PageParams
from hub.works import profiles
from hub.works.feeds import (
    FeedPage,
    FeedQuery,
    FeedSort,
    feed_page,
    page_key,
    shared_feed_page,
)

API = "/api/v1"
TAGS = ("works",)


@operation(
    "The feed of published works",
    query=FeedQuery,
    response=FeedPage,
    errors=(BadRequest, Unauthenticated, TokenInvalid),
    tags=TAGS,
)
async def get_feed(request: Request) -> Response:
    """``latest`` (newest first), ``hot`` (by the hot score, docs/community.md) or ``following``
    (newest first, by the people you follow; needs sign-in, 401 otherwise), optionally in one
    ``category``. Cursor-paged on (sort key, work id); a cursor of another sort is 400."""
    query = parse_query(request, FeedQuery)
    actor = await current_actor(request)
    ctx = get_ctx(request)
    cache = ctx.feeds.cache if ctx.feeds is not None else None
    if actor is None and cache is not None and query.sort is not FeedSort.following:
        # Visitors who are not signed in all get the same bytes (hub.works.feed_cache).
        async def render() -> bytes:
            async with ctx.db.unit_of_work() as session:
                page = await shared_feed_page(session, query, storage=ctx.storage, cache=cache)
            return bytes(json_response(page).body)

        body = await cache.get(("json", *page_key(query)), render, stale_ok=True)
        return Response(body, media_type="application/json")
    async with ctx.db.unit_of_work() as session:
        page = await feed_page(session, actor, query, storage=ctx.storage, cache=cache)
    return json_response(page)


@operation(
    "A person's published works, newest first",
    query=PageParams,
    response=FeedPage,
    errors=(BadRequest, NotFound, TokenInvalid),
    tags=TAGS,
)
async def user_works(request: Request) -> Response:
    params = parse_query(request, PageParams)
    actor = await current_actor(request)
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        page = await profiles.user_works(
            session,
            actor,
            request.path_params["username"],
            cursor=params.cursor,
            limit=params.limit,
            storage=ctx.storage,
        )
    return json_response(page)


@operation(
    "The works a person favorited, latest favorite first",
    query=PageParams,
    response=FeedPage,
    errors=(BadRequest, NotFound, TokenInvalid),
    tags=TAGS,
)
async def user_favorites(request: Request) -> Response:
    """Favorites of works that are no longer public are left out, so a page may be short while
    ``next_cursor`` still leads on."""
    params = parse_query(request, PageParams)
    actor = await current_actor(request)
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        page = await profiles.user_favorites(
            session,
            actor,
            request.path_params["username"],
            cursor=params.cursor,
            limit=params.limit,
            storage=ctx.storage,
        )
    return json_response(page)


routes: list[BaseRoute] = [
    Route(f"{API}/feed", get_feed, methods=["GET"], name="works_feed"),
    Route(f"{API}/users/{{username}}/works", user_works, methods=["GET"], name="user_works"),
    Route(
        f"{API}/users/{{username}}/favorites",
        user_favorites,
        methods=["GET"],
        name="user_favorites",
    ),
]
