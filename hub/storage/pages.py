"""Browser pages of the storage domain: ``/images``, my images as a grid or a list, with search,
filters (date, model, room), and a selection to download as one zip or publish as one work."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from hub.accounts.deps import csrf_token_for, current_actor
from hub.api import validate
from hub.context import get_ctx
from hub.pages import render, to_login
from hub.storage import service
from hub.storage.schemas import ImageQuery

Layout = Literal["grid", "list"]


def _next_page_url(request: Request, cursor: str | None) -> str | None:
    if cursor is None:
        return None
    params = {k: v for k, v in request.query_params.items() if k != "cursor" and v}
    return "/images?" + urlencode({**params, "cursor": cursor})


def _layout(request: Request) -> Layout:
    # How to show the page, not what to list: not part of the API's ImageQuery.
    return "list" if request.query_params.get("view") == "list" else "grid"


def _switch_url(request: Request, layout: Layout) -> str:
    params = {k: v for k, v in request.query_params.items() if k != "view" and v}
    if layout == "list":
        params["view"] = "list"
    return "/images" + (f"?{urlencode(params)}" if params else "")


async def images_page(request: Request) -> Response:
    """``/images``: my images as a grid of squares (or ``?view=list``), with search, filters
    and a next-page link; ticked images go to ``/works/new`` or into a zip."""
    actor = await current_actor(request)
    if actor is None:
        return to_login(request)
    filters = {k: v for k, v in request.query_params.items() if k != "view"}
    query = validate(ImageQuery, filters)
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        library = await service.read_library(session, actor, storage=ctx.storage, query=query)
    layout = _layout(request)
    context = {
        "actor": actor,
        "page": library.page,
        "models": library.models,
        "rooms": library.rooms,
        "q": query.q or "",
        "model": query.model or "",
        "room": query.room or "",
        "since": request.query_params.get("since", "") if query.since else "",
        "until": request.query_params.get("until", "") if query.until else "",
        "filtered": any(
            (query.q, query.model, query.room, query.since is not None, query.until is not None)
        ),
        "layout": layout,
        "grid_url": _switch_url(request, "grid"),
        "list_url": _switch_url(request, "list"),
        "next_url": _next_page_url(request, library.page.next_cursor),
        "is_first_page": query.cursor is None,
        "csrf_token": csrf_token_for(request) or "",
    }
    return render(request, "storage/images.html", context)


routes: list[BaseRoute] = [
    Route("/images", images_page, methods=["GET"], name="images_page"),
]
