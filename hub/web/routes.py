"""Server-rendered pages. The polished UI comes in a later issue; these pages make the embedded
hub usable from a browser end to end: sign in, see rooms, create one, open it."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.templating import Jinja2Templates

from hub.accounts.deps import csrf_token_for, current_actor, require_actor
from hub.api import validate
from hub.collab import service as rooms
from hub.collab.component import get_rooms
from hub.collab.schemas import RoomCreateIn
from hub.context import get_ctx
from hub.errors import ValidationFailed


async def home(request: Request) -> Response:
    templates: Jinja2Templates = request.app.state.templates
    ctx = get_ctx(request)
    actor = await current_actor(request)
    async with ctx.db.unit_of_work() as session:
        mine, public = await rooms.list_start_page(session, actor, limit=12, live=get_rooms(ctx))
    return templates.TemplateResponse(
        request,
        "home.html",
        {
            "actor": actor,
            "mine": mine.items if mine else [],
            "public": public.items,
            "csrf": csrf_token_for(request),
            "error": request.query_params.get("error"),
        },
    )


async def create_room_form(request: Request) -> Response:
    """The create-room form on the start page: a plain POST, so it works without JavaScript."""
    ctx = get_ctx(request)
    actor = await require_actor(request)  # checks the form's csrf_token for cookie sessions
    form = await request.form()
    data = {
        "title": str(form.get("title", "")).strip(),
        "visibility": str(form.get("visibility", "private")),
    }
    try:
        body = validate(RoomCreateIn, data)
    except ValidationFailed:
        return RedirectResponse("/?error=title", status_code=303)
    async with ctx.db.unit_of_work() as session:
        room = await rooms.create_room(
            session,
            actor,
            settings=ctx.settings,
            limiter=ctx.limiter,
            title=body.title,
            visibility=body.visibility,
        )
    return RedirectResponse(room.page_url, status_code=303)


routes: list[BaseRoute] = [
    Route("/", home, name="home"),
    Route("/rooms/new", create_room_form, methods=["POST"], name="room_create_form"),
]
