"""Notifications API: the list with its unread count, marking read, and the live socket."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket

from hub.accounts.deps import require_actor
from hub.api import json_response, operation, parse_query, path_int
from hub.context import get_ctx
from hub.notifications import service
from hub.notifications.pages import routes as page_routes
from hub.notifications.schemas import NotificationPage, NotificationQuery, ReadOut
from rooms import close_codes

API = "/api/v1"
TAGS = ("notifications",)
MAX_ID = 2**62


@operation(
    "Your notifications, newest first, with the unread count",
    query=NotificationQuery,
    response=NotificationPage,
    auth=True,
    tags=TAGS,
)
async def list_notifications(request: Request) -> Response:
    """``unread=true`` lists the unread ones only. New ones also arrive on the live socket
    ``/api/v1/notifications/live`` (docs/notifications.md)."""
    actor = await require_actor(request)
    query = parse_query(request, NotificationQuery)
    async with get_ctx(request).db.unit_of_work() as session:
        page = await service.list_notifications(session, actor, **query.model_dump())
    return json_response(page)


@operation("Mark one notification read", response=ReadOut, auth=True, tags=TAGS)
async def mark_read(request: Request) -> Response:
    """Idempotent (`marked: 0` the second time). 404 for a notification that is not yours."""
    actor = await require_actor(request)
    notification_id = path_int(request, "notification_id", maximum=MAX_ID)
    async with get_ctx(request).db.unit_of_work() as session:
        out = await service.mark_read(session, actor, notification_id)
    return json_response(out)


@operation("Mark all your notifications read", response=ReadOut, auth=True, tags=TAGS)
async def mark_all_read(request: Request) -> Response:
    actor = await require_actor(request)
    async with get_ctx(request).db.unit_of_work() as session:
        out = await service.mark_all_read(session, actor)
    return json_response(out)


async def live_socket(websocket: WebSocket) -> None:
    component = get_ctx(websocket).notifications
    if component is None:
        await websocket.close(close_codes.TRY_AGAIN_LATER)  # before accept: HTTP 403
        return
    await component.serve(websocket)


routes: list[BaseRoute] = [
    Route(f"{API}/notifications", list_notifications, methods=["GET"], name="notifications"),
    Route(
        f"{API}/notifications/read-all",
        mark_all_read,
        methods=["POST"],
        name="notifications_read_all",
    ),
    Route(
        f"{API}/notifications/{{notification_id}}/read",
        mark_read,
        methods=["POST"],
        name="notification_read",
    ),
    WebSocketRoute(f"{API}/notifications/live", live_socket, name="notifications_live"),
    *page_routes,
]
