"""The admin JSON API, ``/api/v1/admin/...``: admins only (401 anonymous, 403 others).

Thin handlers: parse, resolve the actor, call one service function, render. Every change is
audited by the service in the request's transaction (docs/admin.md).
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from hub.accounts.credentials import socket_closer
from hub.accounts.deps import Actor, require_actor
from hub.accounts.errors import LastAdmin, SelfDisable
from hub.admin import service
from hub.admin.schemas import (
    AdminUserOut,
    AdminUserPage,
    AuditPage,
    AuditQuery,
    ModelAccessIn,
    ModelAccessList,
    ReasonIn,
    RoomListQuery,
    SiteOut,
    SitePatchIn,
    SitePublicOut,
    UserListQuery,
    UserPatchIn,
)
from hub.api import CURSOR_REFUSAL, json_response, operation, parse_body, parse_query, path_int
from hub.collab.component import get_rooms
from hub.collab.errors import RoomNotFound
from hub.collab.schemas import RoomOut, RoomPage
from hub.context import HubContext, get_ctx
from hub.errors import Forbidden, NotFound
from hub.generation import service as generation_service
from hub.generation.errors import JobAlreadyFinished, JobNotFound
from hub.generation.providers.registry import ModelPreset
from hub.generation.schemas import JobOut, job_out

API = "/api/v1/admin"
TAGS = ("admin",)
MAX_ID = 2**31 - 1


async def _admin(request: Request) -> Actor:
    """401 without credentials, 403 for anyone but an admin (before reading any input)."""
    actor = await require_actor(request)
    service.require_admin(actor)
    return actor


def _presets(ctx: HubContext) -> Mapping[str, ModelPreset]:
    if ctx.generation is None:
        return generation_service.default_presets()
    return ctx.generation.presets


@operation(
    "Search and filter users (admin)",
    query=UserListQuery,
    response=AdminUserPage,
    auth=True,
    errors=(Forbidden,),
    tags=TAGS,
    refuses=(CURSOR_REFUSAL,),
)
async def list_users(request: Request) -> Response:
    """``q`` matches a part of the username, display name or email; newest accounts first."""
    actor = await _admin(request)
    query = parse_query(request, UserListQuery)
    async with get_ctx(request).db.unit_of_work() as session:
        page = await service.list_users(session, actor, query)
    return json_response(page)


@operation(
    "Disable, enable or change the role of a user (admin)",
    request=UserPatchIn,
    response=AdminUserOut,
    auth=True,
    errors=(Forbidden, NotFound, SelfDisable, LastAdmin),
    tags=TAGS,
)
async def patch_user(request: Request) -> Response:
    """``{"is_active": false}`` disables: every session and token of the user ends and their
    open sockets close (4401) on every process. Disabling yourself is 409."""
    ctx = get_ctx(request)
    actor = await _admin(request)
    user_id = path_int(request, "user_id", maximum=MAX_ID)
    body = await parse_body(request, UserPatchIn)
    async with ctx.db.unit_of_work() as session:
        user = await service.change_user(
            session, actor, sockets=socket_closer(ctx), user_id=user_id, body=body
        )
    return json_response(user)


@operation(
    "Every room, with who is online (admin)",
    query=RoomListQuery,
    response=RoomPage,
    auth=True,
    errors=(Forbidden,),
    tags=TAGS,
    refuses=(CURSOR_REFUSAL,),
)
async def list_rooms(request: Request) -> Response:
    ctx = get_ctx(request)
    actor = await _admin(request)
    query = parse_query(request, RoomListQuery)
    async with ctx.db.unit_of_work() as session:
        page = await service.list_rooms(session, actor, query, live=get_rooms(ctx))
    return json_response(page)


@operation(
    "Close any room (admin)",
    request=ReasonIn,
    response=RoomOut,
    auth=True,
    errors=(Forbidden, RoomNotFound),
    tags=TAGS,
)
async def close_room(request: Request) -> Response:
    """The room is marked closed and every socket of it closes with 4410 on every process."""
    ctx = get_ctx(request)
    actor = await _admin(request)
    body = await parse_body(request, ReasonIn)
    async with ctx.db.unit_of_work() as session:
        room = await service.close_room(
            session, actor, request.path_params["room"], reason=body.reason, live=get_rooms(ctx)
        )
    return json_response(room)


@operation(
    "Cancel any job (admin)",
    request=ReasonIn,
    response=JobOut,
    auth=True,
    errors=(Forbidden, JobNotFound, JobAlreadyFinished),
    tags=TAGS,
)
async def cancel_job(request: Request) -> Response:
    """Like the owner's cancel: a queued job is refunded at once, a running one when its worker
    stops it. Audited."""
    ctx = get_ctx(request)
    actor = await _admin(request)
    body = await parse_body(request, ReasonIn)
    events = ctx.generation.events if ctx.generation is not None else None
    worker = ctx.generation.worker if ctx.generation is not None else None
    async with ctx.db.unit_of_work() as session:
        job = await generation_service.cancel_job(
            session,
            actor,
            request.path_params["job_id"],
            on_event=events,
            signals=worker.signals if worker is not None else None,
            reason=body.reason,
        )
    return json_response(job_out(job))


@operation(
    "Who may use which model (admin)",
    response=ModelAccessList,
    auth=True,
    errors=(Forbidden,),
    tags=TAGS,
)
async def list_models(request: Request) -> Response:
    ctx = get_ctx(request)
    actor = await _admin(request)
    async with ctx.db.unit_of_work() as session:
        models = await service.list_model_access(session, actor, _presets(ctx))
    return json_response(models)


@operation(
    "Set the lowest role that may use a model (admin)",
    request=ModelAccessIn,
    response=ModelAccessList,
    auth=True,
    errors=(Forbidden, NotFound),
    tags=TAGS,
)
async def put_model(request: Request) -> Response:
    """``{"min_role": "moderator"}``: users get 403 for it and no longer see it in
    ``/api/v1/models``; ``null`` gives the model back its preset's own rule."""
    ctx = get_ctx(request)
    actor = await _admin(request)
    body = await parse_body(request, ModelAccessIn)
    async with ctx.db.unit_of_work() as session:
        models = await service.set_model_access(
            session,
            actor,
            _presets(ctx),
            model_id=request.path_params["model_id"],
            min_role=body.min_role,
            reason=body.reason,
        )
    return json_response(models)


@operation("The announcement banner and whether sign-ups are open", response=SitePublicOut)
async def get_public_site(request: Request) -> Response:
    """For every visitor (pages and apps show the banner); changed by admins at run time."""
    async with get_ctx(request).db.unit_of_work() as session:
        value = await service.public_site(session)
    return json_response(value)


@operation("The site settings (admin)", response=SiteOut, auth=True, errors=(Forbidden,), tags=TAGS)
async def get_site(request: Request) -> Response:
    actor = await _admin(request)
    async with get_ctx(request).db.unit_of_work() as session:
        value = await service.read_site(session, actor)
    return json_response(value)


@operation(
    "Change site settings at run time (admin)",
    request=SitePatchIn,
    response=SiteOut,
    auth=True,
    errors=(Forbidden,),
    tags=TAGS,
)
async def patch_site(request: Request) -> Response:
    """Other processes see the change within ``HUB_SITE_CACHE_SECONDS``."""
    actor = await _admin(request)
    body = await parse_body(request, SitePatchIn)
    async with get_ctx(request).db.unit_of_work() as session:
        value = await service.change_site(session, actor, body)
    return json_response(value)


@operation(
    "The audit log, newest first (admin)",
    query=AuditQuery,
    response=AuditPage,
    auth=True,
    errors=(Forbidden,),
    tags=TAGS,
    refuses=(CURSOR_REFUSAL,),
)
async def list_audit(request: Request) -> Response:
    """``action`` ending in a dot matches a family (``user.``); ``since``/``until`` take ISO
    8601 times with a zone."""
    actor = await _admin(request)
    query = parse_query(request, AuditQuery)
    async with get_ctx(request).db.unit_of_work() as session:
        page = await service.list_audit(session, actor, query)
    return json_response(page)


@operation(
    "The audit log as CSV (admin)",
    query=AuditQuery,
    auth=True,
    errors=(Forbidden,),
    tags=TAGS,
    refuses=(CURSOR_REFUSAL,),
)
async def audit_csv(request: Request) -> Response:
    """Every entry matching the filters (``limit`` is ignored), streamed as ``text/csv``."""
    ctx = get_ctx(request)
    actor = await _admin(request)
    query = parse_query(request, AuditQuery)
    async with ctx.db.unit_of_work() as session:
        await service.check_audit_export(session, actor, query)
    headers = {"Content-Disposition": 'attachment; filename="audit.csv"'}
    return StreamingResponse(
        service.audit_csv(ctx.db, query), media_type="text/csv; charset=utf-8", headers=headers
    )


routes: list[BaseRoute] = [
    Route("/api/v1/site", get_public_site, methods=["GET"], name="site_public"),
    Route(f"{API}/users", list_users, methods=["GET"], name="admin_users"),
    Route(f"{API}/users/{{user_id}}", patch_user, methods=["PATCH"], name="admin_user_patch"),
    Route(f"{API}/rooms", list_rooms, methods=["GET"], name="admin_rooms"),
    Route(f"{API}/rooms/{{room}}/close", close_room, methods=["POST"], name="admin_room_close"),
    Route(f"{API}/jobs/{{job_id}}/cancel", cancel_job, methods=["POST"], name="admin_job_cancel"),
    Route(f"{API}/models", list_models, methods=["GET"], name="admin_models"),
    Route(f"{API}/models/{{model_id}}", put_model, methods=["PUT"], name="admin_model_put"),
    Route(f"{API}/site", get_site, methods=["GET"], name="admin_site"),
    Route(f"{API}/site", patch_site, methods=["PATCH"], name="admin_site_patch"),
    Route(f"{API}/audit", list_audit, methods=["GET"], name="admin_audit"),
    Route(f"{API}/audit.csv", audit_csv, methods=["GET"], name="admin_audit_csv"),
]
