"""Browser pages of the storage domain: ``/images``, my images as a grid with search."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from hub.accounts.deps import current_actor
from hub.api import validate
from hub.context import get_ctx
from hub.pages import render, to_login
from hub.storage import service
from hub.storage.schemas import ImageQuery


def _next_page_url(request: Request, cursor: str | None) -> str | None:
    if cursor is None:
        return None
    params = {k: v for k, v in request.query_params.items() if k != "cursor" and v}
    return "/images?" + urlencode({**params, "cursor": cursor})


async def images_page(request: Request) -> Response:
    """``/images``: my images as a grid of squares, with search and a next-page link."""
    actor = await current_actor(request)
    if actor is None:
        return to_login(request)
    query = validate(ImageQuery, dict(request.query_params))
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        page = await service.list_images(session, actor, storage=ctx.storage, query=query)
    context = {
        "actor": actor,
        "page": page,
        "q": query.q or "",
        "next_url": _next_page_url(request, page.next_cursor),
        "is_first_page": query.cursor is None,
    }
    return render(request, "storage/images.html", context)


routes: list[BaseRoute] = [
    Route("/images", images_page, methods=["GET"], name="images_page"),
]
