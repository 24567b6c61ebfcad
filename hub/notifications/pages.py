"""Browser pages of notifications: ``/notifications`` and its mark-read forms, and the bell that
``templates/base.html`` shows in the header of every page to a signed-in visitor.

The bell's number comes from the live socket (its first message is the unread count), so pages
do not each query it: :func:`bell_context` only says whether to show the bell at all, from the
actor the page resolved.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from hub.accounts.deps import STATE_ACTOR, csrf_token_for, current_actor
from hub.api import path_int, validate
from hub.context import get_ctx
from hub.notifications import service
from hub.notifications.schemas import NotificationQuery
from hub.pages import render, to_login

MAX_ID = 2**62


def bell_context(request: Request) -> dict[str, Any]:
    """Jinja context processor (hub.app): ``bell`` is true for a page a signed-in actor sees."""
    state = request.scope.get("state") or {}
    return {"bell": state.get(STATE_ACTOR) is not None}


async def notifications_page(request: Request) -> Response:
    actor = await current_actor(request)
    if actor is None:
        return to_login(request)
    query = validate(NotificationQuery, dict(request.query_params))
    async with get_ctx(request).db.unit_of_work() as session:
        page = await service.list_notifications(session, actor, **query.model_dump())
    next_url = None
    if page.next_cursor:
        params = {"cursor": page.next_cursor, **({"unread": "true"} if query.unread else {})}
        next_url = "/notifications?" + urlencode(params)
    context = {
        "actor": actor,
        "page": page,
        "unread_only": query.unread,
        "next_url": next_url,
        "csrf": csrf_token_for(request),
    }
    return render(request, "notifications/list.html", context)


async def read_one_form(request: Request) -> Response:
    """The "Mark read" button of one notice (no script needed); back to the list."""
    actor = await current_actor(request)  # checks the form's CSRF token
    if actor is None:
        return to_login(request)
    notification_id = path_int(request, "notification_id", maximum=MAX_ID)
    async with get_ctx(request).db.unit_of_work() as session:
        await service.mark_read(session, actor, notification_id)
    return RedirectResponse("/notifications", status_code=303)


async def read_all_form(request: Request) -> Response:
    actor = await current_actor(request)
    if actor is None:
        return to_login(request)
    async with get_ctx(request).db.unit_of_work() as session:
        await service.mark_all_read(session, actor)
    return RedirectResponse("/notifications", status_code=303)


routes: list[BaseRoute] = [
    Route("/notifications", notifications_page, methods=["GET"], name="notifications_page"),
    Route("/notifications/read-all", read_all_form, methods=["POST"], name="notifications_all"),
    Route(
        "/notifications/{notification_id}/read",
        read_one_form,
        methods=["POST"],
        name="notification_read_form",
    ),
]
