"""The admin pages under ``/admin``: anonymous visitors go to sign in, everyone but admins gets
403. Forms post with the session's CSRF token (``csrf_token`` field, checked by
``current_actor``) and go back to their page; every change goes through the same service
functions as the API, so it is audited the same way."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from hub.accounts.credentials import socket_closer
from hub.accounts.deps import Actor, csrf_token_for, current_actor
from hub.accounts.roles import UserRole
from hub.admin import service
from hub.admin.routes import MAX_ID, _presets
from hub.admin.schemas import (
    AuditQuery,
    ModelAccessIn,
    ReasonIn,
    RoomListQuery,
    SitePatchIn,
    UserListQuery,
    UserPatchIn,
)
from hub.api import path_int, validate
from hub.collab.component import get_rooms
from hub.context import get_ctx
from hub.credits import service as credits_service
from hub.credits.schemas import AdjustIn
from hub.forum import categories
from hub.forum.schemas import CategoryIn, CategoryPatchIn
from hub.generation import pausing
from hub.generation import service as generation_service
from hub.pages import render, to_login
from hub.prompts import listing as prompt_listing
from hub.prompts import service as prompts_service
from hub.prompts.schemas import PromptListQuery

# The admin sections, then the pages other domains serve under /admin (statistics, the
# moderators' review queue and block-list), so that one menu reaches them all.
MENU = (
    "users",
    "credits",
    "rooms",
    "categories",
    "prompts",
    "jobs",
    "models",
    "site",
    "audit",
    "stats",
    "reports",
    "blocklist",
)


async def _admin(request: Request) -> Actor | None:
    """The admin, or None for anonymous visitors (sent to sign in); 403 for everyone else."""
    actor = await current_actor(request)  # on a POST this checks the form's csrf_token
    if actor is not None:
        service.require_admin(actor)
    return actor


def _page(request: Request, actor: Actor, section: str, **context: Any) -> Response:
    base = {
        "actor": actor,
        "section": section,
        "menu": MENU,
        "csrf": csrf_token_for(request),
        "query": dict(request.query_params),
    }
    return render(request, f"admin/{section}.html", {**base, **context})


def _back(path: str) -> Response:
    return RedirectResponse(path, status_code=303)


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _params(request: Request, *names: str) -> dict[str, str]:
    """The non-empty query parameters of a filter form (empty fields mean "any")."""
    return {n: v for n in names if (v := request.query_params.get(n, "").strip())}


async def index(request: Request) -> Response:
    if await _admin(request) is None:
        return to_login(request)
    return _back("/admin/users")


# --- users ---------------------------------------------------------------------------------------


async def users_page(request: Request) -> Response:
    actor = await _admin(request)
    if actor is None:
        return to_login(request)
    query = validate(UserListQuery, _params(request, "q", "role", "is_active", "cursor"))
    async with get_ctx(request).db.unit_of_work() as session:
        page = await service.list_users(session, actor, query)
    roles = [r.value for r in UserRole]
    return _page(request, actor, "users", page=page, roles=roles)


async def user_form(request: Request) -> Response:
    """``action``: disable, enable or role (with ``role``); ``reason`` goes to the audit log."""
    actor = await _admin(request)
    if actor is None:
        return to_login(request)
    ctx = get_ctx(request)
    user_id = path_int(request, "user_id", maximum=MAX_ID)
    form = await request.form()
    action = _text(form, "action")
    fields: dict[str, Any] = {"reason": _text(form, "reason") or None}
    if action in ("disable", "enable"):
        fields["is_active"] = action == "enable"
    else:
        fields["role"] = _text(form, "role")
    body = validate(UserPatchIn, fields)
    async with ctx.db.unit_of_work() as session:
        await service.change_user(
            session, actor, sockets=socket_closer(ctx), user_id=user_id, body=body
        )
    return _back("/admin/users")


# --- credits -------------------------------------------------------------------------------------


async def credits_page(request: Request) -> Response:
    actor = await _admin(request)
    if actor is None:
        return to_login(request)
    return _page(request, actor, "credits", done=request.query_params.get("done"))


async def credits_form(request: Request) -> Response:
    actor = await _admin(request)
    if actor is None:
        return to_login(request)
    form = await request.form()
    raw = {"user_id": _text(form, "user_id"), "amount": _text(form, "amount")}
    numbers = {k: int(v) if v.lstrip("-").isdigit() and len(v) < 12 else v for k, v in raw.items()}
    body = validate(AdjustIn, {**numbers, "memo": _text(form, "memo"), "force": "force" in form})
    async with get_ctx(request).db.unit_of_work() as session:
        _entry, balance = await credits_service.adjust_credits(
            session,
            actor,
            user_id=body.user_id,
            amount=body.amount,
            memo=body.memo,
            force=body.force,
        )
    return _back(f"/admin/credits?{urlencode({'done': balance.balance})}")


# --- rooms ---------------------------------------------------------------------------------------


async def rooms_page(request: Request) -> Response:
    actor = await _admin(request)
    if actor is None:
        return to_login(request)
    ctx = get_ctx(request)
    query = validate(RoomListQuery, _params(request, "q", "state", "cursor"))
    async with ctx.db.unit_of_work() as session:
        page = await service.list_rooms(session, actor, query, live=get_rooms(ctx))
    return _page(request, actor, "rooms", page=page)


async def room_close_form(request: Request) -> Response:
    actor = await _admin(request)
    if actor is None:
        return to_login(request)
    ctx = get_ctx(request)
    form = await request.form()
    body = validate(ReasonIn, {"reason": _text(form, "reason")})
    async with ctx.db.unit_of_work() as session:
        await service.close_room(
            session, actor, request.path_params["room"], reason=body.reason, live=get_rooms(ctx)
        )
    return _back("/admin/rooms")


# --- categories ----------------------------------------------------------------------------------


async def categories_page(request: Request) -> Response:
    actor = await _admin(request)
    if actor is None:
        return to_login(request)
    async with get_ctx(request).db.unit_of_work() as session:
        items = await categories.list_categories(session)
    return _page(request, actor, "categories", items=items)


def _category_fields(form: FormData, *names: str) -> dict[str, Any]:
    fields: dict[str, Any] = {name: _text(form, name) for name in names if name in form}
    position = fields.get("position")
    if isinstance(position, str) and position.lstrip("-").isdigit() and len(position) < 10:
        fields["position"] = int(position)
    return fields


async def category_create_form(request: Request) -> Response:
    actor = await _admin(request)
    if actor is None:
        return to_login(request)
    form = await request.form()
    body = validate(CategoryIn, _category_fields(form, "slug", "name", "description", "position"))
    async with get_ctx(request).db.unit_of_work() as session:
        await categories.create_category(session, actor, body)
    return _back("/admin/categories")


async def category_edit_form(request: Request) -> Response:
    actor = await _admin(request)
    if actor is None:
        return to_login(request)
    form = await request.form()
    body = validate(CategoryPatchIn, _category_fields(form, "name", "description", "position"))
    async with get_ctx(request).db.unit_of_work() as session:
        await categories.update_category(session, actor, str(request.path_params["category"]), body)
    return _back("/admin/categories")


# --- prompts -------------------------------------------------------------------------------------


async def prompts_page(request: Request) -> Response:
    actor = await _admin(request)
    if actor is None:
        return to_login(request)
    query = validate(PromptListQuery, {"scope": "public", **_params(request, "official", "cursor")})
    async with get_ctx(request).db.unit_of_work() as session:
        page = await prompt_listing.list_prompts(session, actor, query=query)
    return _page(request, actor, "prompts", page=page)


async def prompt_official_form(request: Request) -> Response:
    actor = await _admin(request)
    if actor is None:
        return to_login(request)
    ctx = get_ctx(request)
    prompt_id = path_int(request, "prompt_id", maximum=MAX_ID)
    form = await request.form()
    async with ctx.db.unit_of_work() as session:
        await prompts_service.set_official(
            session, actor, prompt_id, on=_text(form, "on") == "1", index=ctx.prompts
        )
    return _back("/admin/prompts")


# --- jobs ----------------------------------------------------------------------------------------


async def jobs_page(request: Request) -> Response:
    actor = await _admin(request)
    if actor is None:
        return to_login(request)
    async with get_ctx(request).db.unit_of_work() as session:
        queue = await generation_service.get_queue(session, actor)
    return _page(request, actor, "jobs", queue=queue)


async def queue_form(request: Request) -> Response:
    """``action``: pause or resume."""
    actor = await _admin(request)
    if actor is None:
        return to_login(request)
    form = await request.form()
    async with get_ctx(request).db.unit_of_work() as session:
        if _text(form, "action") == "pause":
            await pausing.pause_queue(session, actor)
        else:
            await pausing.resume_queue(session, actor)
    return _back("/admin/jobs")


async def job_cancel_form(request: Request) -> Response:
    actor = await _admin(request)
    if actor is None:
        return to_login(request)
    ctx = get_ctx(request)
    form = await request.form()
    body = validate(ReasonIn, {"reason": _text(form, "reason")})
    events = ctx.generation.events if ctx.generation is not None else None
    async with ctx.db.unit_of_work() as session:
        await generation_service.cancel_job(
            session, actor, _text(form, "job_id"), on_event=events, reason=body.reason
        )
    return _back("/admin/jobs")


# --- models --------------------------------------------------------------------------------------


async def models_page(request: Request) -> Response:
    actor = await _admin(request)
    if actor is None:
        return to_login(request)
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        models = await service.list_model_access(session, actor, _presets(ctx))
    return _page(request, actor, "models", models=models, roles=[r.value for r in UserRole])


async def model_form(request: Request) -> Response:
    actor = await _admin(request)
    if actor is None:
        return to_login(request)
    ctx = get_ctx(request)
    form = await request.form()
    body = validate(ModelAccessIn, {"min_role": _text(form, "min_role") or None})
    async with ctx.db.unit_of_work() as session:
        await service.set_model_access(
            session,
            actor,
            _presets(ctx),
            model_id=str(request.path_params["model_id"]),
            min_role=body.min_role,
            reason=_text(form, "reason") or None,
        )
    return _back("/admin/models")


# --- site ----------------------------------------------------------------------------------------


async def site_page(request: Request) -> Response:
    actor = await _admin(request)
    if actor is None:
        return to_login(request)
    async with get_ctx(request).db.unit_of_work() as session:
        value = await service.read_site(session, actor)
    return _page(request, actor, "site", site=value)


async def site_form(request: Request) -> Response:
    actor = await _admin(request)
    if actor is None:
        return to_login(request)
    form = await request.form()
    cap = _text(form, "max_concurrent_jobs_per_user")
    fields: dict[str, Any] = {
        "announcement": _text(form, "announcement"),
        "signups_open": "signups_open" in form,
        "pre_review_new_accounts": "pre_review_new_accounts" in form,
        "max_concurrent_jobs_per_user": int(cap) if cap.isdigit() and len(cap) < 6 else cap or None,
        "reason": _text(form, "reason") or None,
    }
    body = validate(SitePatchIn, fields)
    async with get_ctx(request).db.unit_of_work() as session:
        await service.change_site(session, actor, body)
    return _back("/admin/site")


# --- audit ---------------------------------------------------------------------------------------

AUDIT_FILTERS = ("actor", "action", "target_type", "target_id", "since", "until")


async def audit_page(request: Request) -> Response:
    actor = await _admin(request)
    if actor is None:
        return to_login(request)
    filters = _params(request, *AUDIT_FILTERS)
    query = validate(AuditQuery, {**filters, **_params(request, "cursor")})
    async with get_ctx(request).db.unit_of_work() as session:
        page = await service.list_audit(session, actor, query)
    csv_url = "/api/v1/admin/audit.csv?" + urlencode(filters)
    next_url = None
    if page.next_cursor:
        next_url = "/admin/audit?" + urlencode({**filters, "cursor": page.next_cursor})
    return _page(request, actor, "audit", page=page, csv_url=csv_url, next_url=next_url)


routes: list[BaseRoute] = [
    Route("/admin", index, methods=["GET"], name="admin_index"),
    Route("/admin/users", users_page, methods=["GET"], name="admin_users_page"),
    Route("/admin/users/{user_id}", user_form, methods=["POST"], name="admin_user_form"),
    Route("/admin/credits", credits_page, methods=["GET"], name="admin_credits_page"),
    Route("/admin/credits", credits_form, methods=["POST"], name="admin_credits_form"),
    Route("/admin/rooms", rooms_page, methods=["GET"], name="admin_rooms_page"),
    Route("/admin/rooms/{room}/close", room_close_form, methods=["POST"], name="admin_room_form"),
    Route("/admin/categories", categories_page, methods=["GET"], name="admin_categories_page"),
    Route("/admin/categories", category_create_form, methods=["POST"], name="admin_category_new"),
    Route(
        "/admin/categories/{category}",
        category_edit_form,
        methods=["POST"],
        name="admin_category_form",
    ),
    Route("/admin/prompts", prompts_page, methods=["GET"], name="admin_prompts_page"),
    Route(
        "/admin/prompts/{prompt_id}/official",
        prompt_official_form,
        methods=["POST"],
        name="admin_prompt_official_form",
    ),
    Route("/admin/jobs", jobs_page, methods=["GET"], name="admin_jobs_page"),
    Route("/admin/jobs/queue", queue_form, methods=["POST"], name="admin_queue_form"),
    Route("/admin/jobs/cancel", job_cancel_form, methods=["POST"], name="admin_job_cancel_form"),
    Route("/admin/models", models_page, methods=["GET"], name="admin_models_page"),
    Route("/admin/models/{model_id}", model_form, methods=["POST"], name="admin_model_form"),
    Route("/admin/site", site_page, methods=["GET"], name="admin_site_page"),
    Route("/admin/site", site_form, methods=["POST"], name="admin_site_form"),
    Route("/admin/audit", audit_page, methods=["GET"], name="admin_audit_page"),
]
