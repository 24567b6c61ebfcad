"""Moderation API: reports, the review queue, hide/restore, trust levels, the block-list."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from hub.accounts.deps import require_actor
from hub.api import Refusal, json_response, operation, parse_body, parse_query, path_int
from hub.context import get_ctx
from hub.errors import Conflict, ErrorCode, Forbidden, NotFound, RateLimited, ValidationFailed
from hub.moderation import review as review  # installs the pre-review policy
from hub.moderation import service, staff
from hub.moderation.pages import live
from hub.moderation.pages import routes as page_routes
from hub.moderation.schemas import (
    BlockedTermIn,
    BlockedTermList,
    BlockedTermOut,
    ModerationIn,
    ReportCreatedOut,
    ReportIn,
    ReportOut,
    ReportPage,
    ReportQuery,
    ResolveIn,
    TargetOut,
    TrustIn,
    TrustOut,
)
from hub.moderation.targets import TargetNotFound

MAX_ID = 2**31 - 1
TARGETS = ("work", "thread", "comment", "room", "user")
_TAGS = ("moderation",)
NO_REASON = Refusal(
    422,
    ErrorCode.validation_error,
    "Hiding without a reason (its author reads it).",
    field="reason",
    kind="reason_required",
)


@operation(
    "Report a work, thread, comment, room or user",
    request=ReportIn,
    response=ReportCreatedOut,
    status=201,
    auth=True,
    errors=(NotFound, RateLimited),
    tags=_TAGS,
)
async def create_report(request: Request) -> Response:
    """201 either way: ``created`` says whether a report was queued; when not, your open report
    of it is returned, or ``report_id`` is null because it is hidden already."""
    actor = await require_actor(request)
    body = await parse_body(request, ReportIn)
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        out = await service.report(
            session,
            actor,
            target_type=body.target_type,
            target_id=body.target_id,
            reason=body.reason,
            limiter=ctx.limiter,
        )
    return json_response(out, status=201)


@operation(
    "The review queue (moderators)",
    query=ReportQuery,
    response=ReportPage,
    auth=True,
    errors=(Forbidden,),
    tags=_TAGS,
)
async def list_reports(request: Request) -> Response:
    actor = await require_actor(request)
    query = parse_query(request, ReportQuery)
    async with get_ctx(request).db.unit_of_work() as session:
        page = await service.list_reports(session, actor, query)
    return json_response(page)


@operation(
    "Resolve a report: hide the target, dismiss, or approve a held post (moderators)",
    request=ResolveIn,
    response=ReportOut,
    auth=True,
    errors=(Forbidden, NotFound, Conflict),
    tags=_TAGS,
    refuses=(NO_REASON,),
)
async def resolve_report(request: Request) -> Response:
    actor = await require_actor(request)
    body = await parse_body(request, ResolveIn)
    report_id = path_int(request, "report_id", maximum=MAX_ID)
    async with get_ctx(request).db.unit_of_work() as session:
        out = await service.resolve(
            session, actor, report_id, action=body.action, reason=body.reason, live=live(request)
        )
    return json_response(out)


def _target_ref(request: Request) -> tuple[str, str]:
    target_type = request.path_params["target_type"]
    if target_type not in TARGETS:
        raise TargetNotFound()
    return target_type, request.path_params["target_id"]


@operation(
    "Hide a work, thread, comment or room, or suspend a user, with a reason (moderators)",
    request=ModerationIn,
    response=TargetOut,
    auth=True,
    errors=(Forbidden, NotFound, ValidationFailed),
    tags=_TAGS,
    refuses=(NO_REASON,),
)
async def hide_target(request: Request) -> Response:
    """Hiding a hidden target is a no-op (200, the same state)."""
    return await _moderate(request, service.hide)


@operation(
    "Show a hidden (or held) target again (moderators)",
    request=ModerationIn,
    response=TargetOut,
    auth=True,
    errors=(Forbidden, NotFound),
    tags=_TAGS,
)
async def restore_target(request: Request) -> Response:
    return await _moderate(request, service.restore)


async def _moderate(request: Request, change: Any) -> Response:
    """Hide or restore the target the path names, with the body's reason."""
    actor = await require_actor(request)
    body = await parse_body(request, ModerationIn)
    target_type, target_id = _target_ref(request)
    async with get_ctx(request).db.unit_of_work() as session:
        out = await change(
            session,
            actor,
            target_type=target_type,
            target_id=target_id,
            reason=body.reason,
            live=live(request),
        )
    return json_response(out)


@operation(
    "Set a user's trust level (moderators)",
    request=TrustIn,
    response=TrustOut,
    auth=True,
    errors=(Forbidden, NotFound),
    tags=_TAGS,
)
async def set_trust(request: Request) -> Response:
    actor = await require_actor(request)
    body = await parse_body(request, TrustIn)
    user_id = path_int(request, "user_id", maximum=MAX_ID)
    async with get_ctx(request).db.unit_of_work() as session:
        out = await staff.set_trust(session, actor, user_id, level=body.level)
    return json_response(out)


@operation(
    "The prompt block-list (moderators)",
    response=BlockedTermList,
    auth=True,
    errors=(Forbidden,),
    tags=_TAGS,
)
async def list_blocklist(request: Request) -> Response:
    actor = await require_actor(request)
    async with get_ctx(request).db.unit_of_work() as session:
        items = await staff.list_blocked_terms(session, actor)
    return json_response(BlockedTermList(items=items))


@operation(
    "Block a word or phrase in prompts (moderators)",
    request=BlockedTermIn,
    response=BlockedTermOut,
    status=201,
    auth=True,
    errors=(Forbidden,),
    tags=_TAGS,
)
async def add_blocked_term(request: Request) -> Response:
    """201 with the entry: the existing one when the term is listed already (in any case)."""
    actor = await require_actor(request)
    body = await parse_body(request, BlockedTermIn)
    async with get_ctx(request).db.unit_of_work() as session:
        out, _created = await staff.block_term(session, actor, term=body.term)
    return json_response(out, status=201)


@operation(
    "Take a term off the block-list (moderators)",
    status=204,
    auth=True,
    errors=(Forbidden, NotFound),
    tags=_TAGS,
)
async def remove_blocked_term(request: Request) -> Response:
    actor = await require_actor(request)
    term_id = path_int(request, "term_id", maximum=MAX_ID)
    async with get_ctx(request).db.unit_of_work() as session:
        await staff.unblock_term(session, actor, term_id)
    return Response(status_code=204)


API = "/api/v1"
ADMIN = f"{API}/admin"
routes: list[BaseRoute] = [
    Route(f"{API}/reports", create_report, methods=["POST"], name="reports_create"),
    Route(f"{ADMIN}/reports", list_reports, methods=["GET"], name="reports_list"),
    Route(
        f"{ADMIN}/reports/{{report_id}}/resolve",
        resolve_report,
        methods=["POST"],
        name="reports_resolve",
    ),
    Route(
        f"{ADMIN}/moderation/{{target_type}}/{{target_id}}/hide",
        hide_target,
        methods=["POST"],
        name="moderation_hide",
    ),
    Route(
        f"{ADMIN}/moderation/{{target_type}}/{{target_id}}/restore",
        restore_target,
        methods=["POST"],
        name="moderation_restore",
    ),
    Route(f"{ADMIN}/users/{{user_id}}/trust", set_trust, methods=["PATCH"], name="users_trust"),
    Route(f"{ADMIN}/blocklist", list_blocklist, methods=["GET"], name="blocklist_list"),
    Route(f"{ADMIN}/blocklist", add_blocked_term, methods=["POST"], name="blocklist_add"),
    Route(
        f"{ADMIN}/blocklist/{{term_id}}",
        remove_blocked_term,
        methods=["DELETE"],
        name="blocklist_remove",
    ),
    *page_routes,
]
