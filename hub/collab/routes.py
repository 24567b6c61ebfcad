"""Collab JSON API under ``/api/v1`` and the room sockets (the room pages are in pages.py)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket

from hub.accounts.deps import current_actor, require_actor
from hub.api import json_response, operation, parse_body, parse_query, path_int
from hub.collab import content, invites, members, rooms
from hub.collab.component import get_rooms
from hub.collab.errors import (
    InviteExhausted,
    InviteExpired,
    InviteNotFound,
    InviteRevoked,
    NotAMember,
    NotRoomOwner,
    OwnerCannotLeave,
    RoomClosed,
    RoomFull,
    RoomNotFound,
)
from hub.collab.extensions import HANDSHAKE
from hub.collab.pages import routes as page_routes
from hub.collab.schemas import (
    ChatPage,
    ChatQuery,
    DocumentOut,
    HistoryPage,
    HistoryQuery,
    InviteAccepted,
    InviteCreated,
    InviteCreateIn,
    InvitePage,
    MemberOut,
    MemberPage,
    MemberRoleIn,
    PageQuery,
    RoomCreateIn,
    RoomListQuery,
    RoomOut,
    RoomPage,
    RoomPatchIn,
    TransferIn,
)
from hub.context import get_ctx
from hub.errors import CSRFFailed, HubError, RateLimited, Unauthenticated
from rooms import close_codes

API = "/api/v1"
TAGS = ("rooms",)
INT32_MAX = 2**31 - 1


def _int_param(request: Request, name: str) -> int:
    # Room member and invite ids are 32-bit columns.
    return path_int(request, name, maximum=INT32_MAX)


def _slug(request: Request) -> str:
    return str(request.path_params["slug"])


# --- rooms ---------------------------------------------------------------------------------------


@operation(
    "Create a room",
    request=RoomCreateIn,
    response=RoomOut,
    status=201,
    auth=True,
    errors=(CSRFFailed, RateLimited),
    tags=TAGS,
)
async def create_room(request: Request) -> Response:
    """The creator becomes the owner. The slug is made from the title plus a random suffix."""
    actor = await require_actor(request)
    body = await parse_body(request, RoomCreateIn)
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        room = await rooms.create_room(session, actor, limiter=ctx.limiter, **body.model_dump())
    return json_response(room, 201)


@operation(
    "List rooms",
    query=RoomListQuery,
    response=RoomPage,
    errors=(Unauthenticated,),
    tags=TAGS,
)
async def list_rooms(request: Request) -> Response:
    """``mine`` (needs sign-in), ``public`` (open public rooms) or ``live`` (rooms with people
    connected now, with counts). Newest first, cursor-paged."""
    query = parse_query(request, RoomListQuery)
    actor = await current_actor(request)
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        page = await rooms.list_rooms(session, actor, live=get_rooms(ctx), **query.model_dump())
    return json_response(page)


@operation(
    "My solo studio",
    response=RoomOut,
    auth=True,
    errors=(Unauthenticated, CSRFFailed, RoomNotFound),
    tags=TAGS,
)
async def open_studio(request: Request) -> Response:
    """Your private room for generating alone, ``studio--{user_id}``, made on the first call
    (the same room every time after: the call is idempotent). No invite and no title needed;
    it is an ordinary room otherwise (the room page, its gallery and jobs)."""
    actor = await require_actor(request)
    async with get_ctx(request).db.unit_of_work() as session:
        room = await rooms.open_studio(session, actor)
    return json_response(room)


@operation("Get a room", response=RoomOut, errors=(RoomNotFound, Unauthenticated), tags=TAGS)
async def get_room(request: Request) -> Response:
    actor = await current_actor(request)
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        room = await rooms.read_room(session, actor, _slug(request), live=get_rooms(ctx))
    return json_response(room)


@operation(
    "Change a room",
    request=RoomPatchIn,
    response=RoomOut,
    auth=True,
    errors=(RoomNotFound, NotRoomOwner, CSRFFailed),
    tags=TAGS,
)
async def patch_room(request: Request) -> Response:
    """Owner only. Narrowing access (visibility, anonymous viewing) disconnects the sockets
    that would no longer be admitted, on every process."""
    actor = await require_actor(request)
    body = await parse_body(request, RoomPatchIn)
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        room = await rooms.update_room(
            session, actor, _slug(request), changes=body.changes(), live=get_rooms(ctx)
        )
    return json_response(room)


@operation(
    "Delete (archive) a room",
    status=204,
    auth=True,
    errors=(RoomNotFound, NotRoomOwner, CSRFFailed),
    tags=TAGS,
)
async def delete_room(request: Request) -> Response:
    """Owner only. The room is archived: hidden from everyone else, its sockets closed (4410)."""
    actor = await require_actor(request)
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        await rooms.archive_room(session, actor, _slug(request), live=get_rooms(ctx))
    return Response(status_code=204)


@operation(
    "Close a room",
    response=RoomOut,
    auth=True,
    errors=(RoomNotFound, NotRoomOwner, CSRFFailed),
    tags=TAGS,
)
async def close_room(request: Request) -> Response:
    """Owner only. Every socket of the room on every process is closed with 4410."""
    actor = await require_actor(request)
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        room = await rooms.close_room(session, actor, _slug(request), live=get_rooms(ctx))
    return json_response(room)


@operation(
    "Transfer a room",
    request=TransferIn,
    response=RoomOut,
    auth=True,
    errors=(RoomNotFound, NotRoomOwner, NotAMember, CSRFFailed),
    tags=TAGS,
)
async def transfer_room(request: Request) -> Response:
    """Owner only. The new owner must be a member; the old owner becomes an editor."""
    actor = await require_actor(request)
    body = await parse_body(request, TransferIn)
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        room = await rooms.transfer_room(
            session, actor, _slug(request), user_id=body.user_id, live=get_rooms(ctx)
        )
    return json_response(room)


# --- members -------------------------------------------------------------------------------------


@operation(
    "List members",
    query=PageQuery,
    response=MemberPage,
    errors=(RoomNotFound, Unauthenticated),
    tags=TAGS,
)
async def list_members(request: Request) -> Response:
    """Members with their roles, and who is connected now (members or not) with names."""
    query = parse_query(request, PageQuery)
    actor = await current_actor(request)
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        page = await members.list_members(
            session, actor, _slug(request), live=get_rooms(ctx), **query.model_dump()
        )
    return json_response(page)


@operation(
    "Change a member's role",
    request=MemberRoleIn,
    response=MemberOut,
    auth=True,
    errors=(RoomNotFound, NotRoomOwner, NotAMember, OwnerCannotLeave, CSRFFailed),
    tags=TAGS,
)
async def patch_member(request: Request) -> Response:
    """Owner only; applies to the member's open sockets at once, on every process."""
    actor = await require_actor(request)
    body = await parse_body(request, MemberRoleIn)
    ctx = get_ctx(request)
    user_id = _int_param(request, "user_id")
    async with ctx.db.unit_of_work() as session:
        member = await members.change_member_role(
            session, actor, _slug(request), user_id, role=body.role, live=get_rooms(ctx)
        )
    return json_response(member)


@operation(
    "Remove a member",
    status=204,
    auth=True,
    errors=(RoomNotFound, NotRoomOwner, NotAMember, OwnerCannotLeave, CSRFFailed),
    tags=TAGS,
)
async def delete_member(request: Request) -> Response:
    """The owner kicks a member (their sockets close with 4409 on every process), or a member
    leaves (their own user id)."""
    actor = await require_actor(request)
    ctx = get_ctx(request)
    user_id = _int_param(request, "user_id")
    async with ctx.db.unit_of_work() as session:
        await members.remove_member(session, actor, _slug(request), user_id, live=get_rooms(ctx))
    return Response(status_code=204)


# --- invites -------------------------------------------------------------------------------------


@operation(
    "Create an invite",
    request=InviteCreateIn,
    response=InviteCreated,
    status=201,
    auth=True,
    errors=(RoomNotFound, NotRoomOwner, RoomClosed, CSRFFailed),
    tags=TAGS,
)
async def create_invite(request: Request) -> Response:
    """Owner only. The token is returned once, inside the shareable ``/join/{token}`` URL."""
    actor = await require_actor(request)
    body = await parse_body(request, InviteCreateIn)
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        created = await invites.create_invite(session, actor, _slug(request), **body.model_dump())
    return json_response(created, 201)


@operation(
    "List invites",
    query=PageQuery,
    response=InvitePage,
    auth=True,
    errors=(RoomNotFound, NotRoomOwner),
    tags=TAGS,
)
async def list_invites(request: Request) -> Response:
    actor = await require_actor(request)
    query = parse_query(request, PageQuery)
    async with get_ctx(request).db.unit_of_work() as session:
        page = await invites.list_invites(session, actor, _slug(request), **query.model_dump())
    return json_response(page)


@operation(
    "Revoke an invite",
    status=204,
    auth=True,
    errors=(RoomNotFound, NotRoomOwner, InviteNotFound, CSRFFailed),
    tags=TAGS,
)
async def revoke_invite(request: Request) -> Response:
    actor = await require_actor(request)
    invite_id = _int_param(request, "invite_id")
    async with get_ctx(request).db.unit_of_work() as session:
        await invites.revoke_invite(session, actor, _slug(request), invite_id)
    return Response(status_code=204)


@operation(
    "Accept an invite",
    response=InviteAccepted,
    auth=True,
    errors=(InviteNotFound, InviteExpired, InviteRevoked, InviteExhausted, RoomClosed, RoomFull),
    tags=TAGS,
)
async def accept_invite(request: Request) -> Response:
    """Joins the room with the invite's role (an existing member keeps a higher role)."""
    actor = await require_actor(request)
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        accepted = await invites.accept_invite(
            session, actor, str(request.path_params["token"]), live=get_rooms(ctx)
        )
    return json_response(accepted)


# --- document, chat, history ---------------------------------------------------------------------


@operation(
    "Read the room's chat",
    query=ChatQuery,
    response=ChatPage,
    errors=(RoomNotFound, Unauthenticated),
    tags=TAGS,
)
async def chat_history(request: Request) -> Response:
    """Persisted ``chat.message`` events, newest first; page with ``?before=next_before``."""
    query = parse_query(request, ChatQuery)
    actor = await current_actor(request)
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        page = await content.list_chat(
            session, actor, _slug(request), live=get_rooms(ctx), **query.model_dump()
        )
    return json_response(page)


@operation(
    "Read the room's document",
    response=DocumentOut,
    errors=(RoomNotFound, Unauthenticated),
    tags=TAGS,
)
async def document(request: Request) -> Response:
    """The prompt, negative prompt and params, as JSON."""
    actor = await current_actor(request)
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        doc = await content.read_document_of(session, actor, _slug(request), live=get_rooms(ctx))
    return json_response(doc)


@operation(
    "Read the room's history",
    query=HistoryQuery,
    response=HistoryPage,
    errors=(RoomNotFound, Unauthenticated),
    tags=TAGS,
)
async def history(request: Request) -> Response:
    """Snapshots of the document with their authors and times, newest first."""
    query = parse_query(request, HistoryQuery)
    actor = await current_actor(request)
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        page = await content.list_history(
            session, actor, _slug(request), live=get_rooms(ctx), **query.model_dump()
        )
    return json_response(page)


# --- sockets -------------------------------------------------------------------------------------


async def _serve_socket(websocket: WebSocket, *, events: bool) -> None:
    try:
        live = get_rooms(get_ctx(websocket))
    except HubError:
        await websocket.close(close_codes.INTERNAL_ERROR)  # before accept: HTTP 403
        return
    # HubRoomsExtension.on_authenticate reads the handshake from here (same task).
    token = HANDSHAKE.set(websocket)
    try:
        if events:
            await live.endpoints.events(websocket)
        else:
            await live.endpoints.yjs(websocket)
    finally:
        HANDSHAKE.reset(token)


async def yjs_socket(websocket: WebSocket) -> None:
    await _serve_socket(websocket, events=False)


async def events_socket(websocket: WebSocket) -> None:
    await _serve_socket(websocket, events=True)


routes: list[BaseRoute] = [
    Route(f"{API}/me/studio", open_studio, methods=["POST"]),
    Route(f"{API}/rooms", create_room, methods=["POST"]),
    Route(f"{API}/rooms", list_rooms, methods=["GET"]),
    Route(f"{API}/rooms/{{slug}}", get_room, methods=["GET"]),
    Route(f"{API}/rooms/{{slug}}", patch_room, methods=["PATCH"]),
    Route(f"{API}/rooms/{{slug}}", delete_room, methods=["DELETE"]),
    Route(f"{API}/rooms/{{slug}}/close", close_room, methods=["POST"]),
    Route(f"{API}/rooms/{{slug}}/transfer", transfer_room, methods=["POST"]),
    Route(f"{API}/rooms/{{slug}}/members", list_members, methods=["GET"]),
    Route(f"{API}/rooms/{{slug}}/members/{{user_id}}", patch_member, methods=["PATCH"]),
    Route(f"{API}/rooms/{{slug}}/members/{{user_id}}", delete_member, methods=["DELETE"]),
    Route(f"{API}/rooms/{{slug}}/invites", create_invite, methods=["POST"]),
    Route(f"{API}/rooms/{{slug}}/invites", list_invites, methods=["GET"]),
    Route(f"{API}/rooms/{{slug}}/invites/{{invite_id}}", revoke_invite, methods=["DELETE"]),
    Route(f"{API}/invites/{{token}}/accept", accept_invite, methods=["POST"]),
    Route(f"{API}/rooms/{{slug}}/chat", chat_history, methods=["GET"]),
    Route(f"{API}/rooms/{{slug}}/document", document, methods=["GET"]),
    Route(f"{API}/rooms/{{slug}}/history", history, methods=["GET"]),
    WebSocketRoute("/yjs/{slug}", yjs_socket, name="rooms-yjs"),
    WebSocketRoute("/rooms/{slug}/events", events_socket, name="rooms-events"),
    *page_routes,
]
