"""Pages that gather several domains: the start page ``/`` (your rooms, public rooms, and the
create-room form, which posts to collab's ``/rooms/new``).

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
from hub.pages import render


async def home(request: Request) -> Response:
    ctx = get_ctx(request)
    actor = await current_actor(request)
    async with ctx.db.unit_of_work() as session:
        mine, public = await list_start_page(session, actor, limit=12, live=get_rooms(ctx))
    return render(
        request,
        "web/home.html",
        {
            "actor": actor,
            "mine": mine.items if mine else [],
            "public": public.items,
            "csrf": csrf_token_for(request),
            "error": request.query_params.get("error"),
        },
    )


routes: list[BaseRoute] = [
    Route("/", home, name="home"),
]
