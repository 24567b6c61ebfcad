"""Pages that gather several domains: the start page ``/`` (live rooms you can enter, your
rooms, public rooms, hot works, the latest threads, and the create-room form, which posts to
collab's ``/rooms/new``).

hub/web is the top of the domain order: it may call any domain's service and no domain imports
it. A page about one domain lives in that domain's pages.py instead (docs/architecture.md)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from hub.accounts.deps import csrf_token_for, current_actor
from hub.collab.component import get_rooms
from hub.collab.rooms import list_start_page
from hub.context import get_ctx
from hub.forum.threads import list_threads
from hub.pages import render
from hub.works.feeds import FeedQuery, FeedSort, shared_feed_page

ROOMS_SHOWN = 12
WORKS_SHOWN = 8
THREADS_SHOWN = 8


async def home(request: Request) -> Response:
    ctx = get_ctx(request)
    actor = await current_actor(request)
    cache = ctx.feeds.cache if ctx.feeds is not None else None
    hot_query = FeedQuery(sort=FeedSort.hot, limit=WORKS_SHOWN)
    async with ctx.db.unit_of_work() as session:
        rooms = await list_start_page(session, actor, limit=ROOMS_SHOWN, live=get_rooms(ctx))
        # The hot feed's first page as everyone sees it (and as the feed cache keeps it).
        hot = await shared_feed_page(session, hot_query, storage=ctx.storage, cache=cache)
        threads = await list_threads(session, category=None, cursor=None, limit=THREADS_SHOWN)
    return render(
        request,
        "web/home.html",
        {
            "actor": actor,
            "mine": rooms.mine.items if rooms.mine else [],
            "public": rooms.public.items,
            "live": rooms.live.items,
            "hot": hot.items,
            "threads": threads.items,
            "csrf": csrf_token_for(request),
            "error": request.query_params.get("error"),
        },
    )


routes: list[BaseRoute] = [
    Route("/", home, name="home"),
]
