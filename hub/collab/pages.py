"""Browser pages of the collab domain: the room page ``/r/{slug}``, its people panel, the invite
link ``/join/{token}``, and the create-room form (on the start page, which is hub/web's)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from hub.accounts.deps import Actor, csrf_token_for, current_actor, require_actor
from hub.api import validate
from hub.collab.access import is_room_member
from hub.collab.component import get_rooms
from hub.collab.errors import RoomNotFound
from hub.collab.invites import accept_invite, list_invites, preview_invite
from hub.collab.members import list_members
from hub.collab.rooms import create_room, open_studio, read_room
from hub.collab.schemas import RoomCreateIn
from hub.context import get_ctx
from hub.errors import Unauthenticated, ValidationFailed
from hub.pages import render, to_login
from hub.pagination import MAX_LIMIT


def _slug(request: Request) -> str:
    return str(request.path_params["slug"])


INVITES_SHOWN = 50
# The invite form's expiry choices (seconds; None: never), within InviteCreateIn's bounds.
INVITE_EXPIRY = ((3600, "1 hour"), (86400, "1 day"), (7 * 86400, "7 days"), (30 * 86400, "30 days"))


async def _people(request: Request, actor: Actor | None) -> dict[str, Any]:
    """The room page's data: the room, its members with roles, and (owner) its invites."""
    ctx, slug = get_ctx(request), _slug(request)
    live = get_rooms(ctx)
    async with ctx.db.unit_of_work() as session:
        room = await read_room(session, actor, slug, live=live)
        members = await list_members(session, actor, slug, cursor=None, limit=MAX_LIMIT, live=live)
        # The gallery is the members' (GET /api/v1/rooms/{slug}/images): watchers of a public
        # room get a line saying so instead of a 403.
        is_member = actor is not None and await is_room_member(session, actor, slug)
        invites = None
        if actor is not None and room.my_role == "owner":
            listed = await list_invites(session, actor, slug, cursor=None, limit=INVITES_SHOWN)
            invites = listed.items
    return {
        "room": room,
        "actor": actor,
        "members": members,
        "invites": invites,
        "is_member": is_member,
    }


async def room_page(request: Request) -> Response:
    actor = await current_actor(request)
    try:
        data = await _people(request, actor)
    except (Unauthenticated, RoomNotFound):
        if actor is None:
            return to_login(request)  # a member who is signed out sees "sign in", not 404
        raise
    data.update(csrf_token=csrf_token_for(request) or "", expiry_choices=INVITE_EXPIRY)
    return render(request, "collab/room.html", data)


async def people_fragment(request: Request) -> Response:
    """The room page's members and invites panel alone; the page's script swaps it in after a
    change (same access rules as the page: 401/404 for those who may not see the room)."""
    actor = await current_actor(request)
    return render(request, "collab/_people.html", await _people(request, actor))


async def join_page(request: Request) -> Response:
    """Shows which room and role the invite offers; joining is the form's POST (a link preview
    or a prefetch must not use up an invite). Members it would not promote go straight in."""
    actor = await current_actor(request)
    if actor is None:
        return to_login(request)
    token = str(request.path_params["token"])
    async with get_ctx(request).db.unit_of_work() as session:
        preview = await preview_invite(session, actor, token)
    if not preview.would_change:
        return RedirectResponse(preview.room.page_url, status_code=303)
    context = {"actor": actor, "csrf_token": csrf_token_for(request) or "", "token": token}
    return render(request, "collab/join.html", {**context, "preview": preview})


async def join_submit(request: Request) -> Response:
    """The form on /join/{token}: accepts (CSRF-checked by require_actor) and opens the room."""
    actor = await require_actor(request)
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        accepted = await accept_invite(
            session, actor, str(request.path_params["token"]), live=get_rooms(ctx)
        )
    return RedirectResponse(accepted.room.page_url, status_code=303)


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
        room = await create_room(
            session, actor, limiter=ctx.limiter, title=body.title, visibility=body.visibility
        )
    return RedirectResponse(room.page_url, status_code=303)


async def studio_page(request: Request) -> Response:
    """``/studio``: your solo studio, made on the first visit (a private room of your own, so
    the page is the room page at ``/r/studio--{user_id}``). Opening it twice changes nothing."""
    actor = await current_actor(request)
    if actor is None:
        return to_login(request)
    async with get_ctx(request).db.unit_of_work() as session:
        room = await open_studio(session, actor)
    return RedirectResponse(room.page_url, status_code=303)


routes: list[BaseRoute] = [
    Route("/studio", studio_page, methods=["GET"], name="studio_page"),
    Route("/r/{slug}", room_page, methods=["GET"], name="room_page"),
    Route("/r/{slug}/people", people_fragment, methods=["GET"], name="room_people"),
    Route("/join/{token}", join_page, methods=["GET"], name="join_page"),
    Route("/join/{token}", join_submit, methods=["POST"], name="join_submit"),
    Route("/rooms/new", create_room_form, methods=["POST"], name="room_create_form"),
]
