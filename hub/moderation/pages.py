"""Moderation pages: the report form's POST (from the work, thread, comment, room and profile
pages), the review queue ``/admin/reports`` and the block-list ``/admin/blocklist``.

Forms are plain posts checked for CSRF by ``require_actor`` (the session's token in the
``csrf_token`` field). Visitors who are not signed in go to the sign-in page; signed-in
non-moderators get 403.
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from hub.accounts.deps import Actor, csrf_token_for, current_actor, require_actor
from hub.api import path_int, validate
from hub.context import get_ctx
from hub.errors import HubError, ValidationFailed
from hub.moderation import service, staff
from hub.moderation.schemas import BlockedTermIn, ReportIn, ReportQuery, ResolveIn
from hub.moderation.targets import Live
from hub.pages import render, to_login

MAX_ID = 2**31 - 1


def live(request: Request) -> Live:
    ctx = get_ctx(request)
    return Live(storage=ctx.storage, rooms=ctx.rooms)


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _error_text(error: HubError) -> str:
    fields = error.details.get("fields") if isinstance(error.details, dict) else None
    found = [f"{f.get('field')}: {f.get('message')}" for f in fields or [] if isinstance(f, dict)]
    return "; ".join(found) or error.message


async def report_form(request: Request) -> Response:
    """The report button's form: a thank-you page (or the form's error) follows."""
    actor = await require_actor(request)
    form = await request.form()
    ctx = get_ctx(request)
    context: dict[str, Any] = {"actor": actor, "error": None, "created": False}
    status = 200
    try:
        target_id: int | str = _text(form, "target_id")
        body = validate(
            ReportIn,
            {
                "target_type": _text(form, "target_type"),
                "target_id": target_id,
                "reason": _text(form, "reason"),
            },
        )
        async with ctx.db.unit_of_work() as session:
            out = await service.report(
                session,
                actor,
                target_type=body.target_type,
                target_id=body.target_id,
                reason=body.reason,
                limiter=ctx.limiter,
            )
        context.update(created=out.created, target=out.target)
    except HubError as exc:
        context["error"] = _error_text(exc)
        status = exc.status
    return render(request, "moderation/reported.html", context, status_code=status)


async def _moderator(request: Request) -> Actor | Response:
    actor = await current_actor(request)
    if actor is None:
        return to_login(request)
    service.require_moderator(actor)
    return actor


async def _queue_page(
    request: Request, actor: Actor, *, error: str | None = None, status: int = 200
) -> Response:
    params = dict(request.query_params)
    query = validate(ReportQuery, params)
    async with get_ctx(request).db.unit_of_work() as session:
        page = await service.list_reports(session, actor, query)
    context = {
        "actor": actor,
        "csrf_token": csrf_token_for(request) or "",
        "page": page,
        "state": query.state,
        "error": error,
    }
    return render(request, "moderation/reports.html", context, status_code=status)


async def reports_page(request: Request) -> Response:
    actor = await _moderator(request)
    if isinstance(actor, Response):
        return actor
    return await _queue_page(request, actor)


async def resolve_form(request: Request) -> Response:
    actor = await require_actor(request)
    service.require_moderator(actor)
    report_id = path_int(request, "report_id", maximum=MAX_ID)
    form = await request.form()
    try:
        body = validate(
            ResolveIn, {"action": _text(form, "action"), "reason": _text(form, "reason")}
        )
        async with get_ctx(request).db.unit_of_work() as session:
            await service.resolve(
                session,
                actor,
                report_id,
                action=body.action,
                reason=body.reason,
                live=live(request),
            )
    except (ValidationFailed, HubError) as exc:
        return await _queue_page(request, actor, error=_error_text(exc), status=exc.status)
    return RedirectResponse("/admin/reports", status_code=303)


async def _blocklist_page(
    request: Request, actor: Actor, *, error: str | None = None, status: int = 200
) -> Response:
    async with get_ctx(request).db.unit_of_work() as session:
        terms = await staff.list_blocked_terms(session, actor)
    context = {
        "actor": actor,
        "csrf_token": csrf_token_for(request) or "",
        "terms": terms,
        "error": error,
    }
    return render(request, "moderation/blocklist.html", context, status_code=status)


async def blocklist_page(request: Request) -> Response:
    actor = await _moderator(request)
    if isinstance(actor, Response):
        return actor
    return await _blocklist_page(request, actor)


async def blocklist_add_form(request: Request) -> Response:
    actor = await require_actor(request)
    service.require_moderator(actor)
    form = await request.form()
    try:
        body = validate(BlockedTermIn, {"term": _text(form, "term")})
        async with get_ctx(request).db.unit_of_work() as session:
            await staff.block_term(session, actor, term=body.term)
    except HubError as exc:
        return await _blocklist_page(request, actor, error=_error_text(exc), status=exc.status)
    return RedirectResponse("/admin/blocklist", status_code=303)


async def blocklist_delete_form(request: Request) -> Response:
    actor = await require_actor(request)
    service.require_moderator(actor)
    term_id = path_int(request, "term_id", maximum=MAX_ID)
    async with get_ctx(request).db.unit_of_work() as session:
        await staff.unblock_term(session, actor, term_id)
    return RedirectResponse("/admin/blocklist", status_code=303)


routes: list[BaseRoute] = [
    Route("/report", report_form, methods=["POST"], name="report_form"),
    Route("/admin/reports", reports_page, methods=["GET"], name="admin_reports"),
    Route(
        "/admin/reports/{report_id}/resolve",
        resolve_form,
        methods=["POST"],
        name="admin_reports_resolve",
    ),
    Route("/admin/blocklist", blocklist_page, methods=["GET"], name="admin_blocklist"),
    Route("/admin/blocklist", blocklist_add_form, methods=["POST"], name="admin_blocklist_add"),
    Route(
        "/admin/blocklist/{term_id}/delete",
        blocklist_delete_form,
        methods=["POST"],
        name="admin_blocklist_delete",
    ),
]
