"""Prompt library API under ``/api/v1/prompts`` (the pages are in pages.py)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from hub.accounts.deps import current_actor, require_actor
from hub.api import Refusal, json_response, operation, parse_body, parse_query, path_int
from hub.collab.component import get_rooms
from hub.collab.errors import RoomClosed, RoomNotFound
from hub.context import HubContext, get_ctx
from hub.errors import (
    BadRequest,
    Conflict,
    ErrorCode,
    Forbidden,
    InsufficientCredits,
    RateLimited,
    Unauthenticated,
    Unavailable,
)
from hub.generation.component import job_wiring
from hub.generation.errors import ModelNotAllowed, QueueLimitReached
from hub.generation.schemas import BatchOut
from hub.prompts import batches, listing, service, use, versions
from hub.prompts.errors import NotPromptAuthor, PromptNotFound, RoomEditorsOnly, VersionNotFound
from hub.prompts.filling import apply_style
from hub.prompts.index import PromptIndex, get_index
from hub.prompts.pages import routes as page_routes
from hub.prompts.schemas import (
    ApplyIn,
    ApplyOut,
    DiffOut,
    DiffQuery,
    FavoriteOut,
    LibraryBatchIn,
    PromptCreated,
    PromptCreateIn,
    PromptListQuery,
    PromptOut,
    PromptPage,
    PromptPatchIn,
    SaveFromRoomIn,
    SuggestOut,
    SuggestQuery,
    UseIn,
    UseOut,
    VersionListQuery,
    VersionOut,
    VersionPage,
)
from hub.prompts.service import INT32_MAX

API = "/api/v1"
TAGS = ("prompts",)
VARIABLES_REFUSAL = Refusal(
    422,
    ErrorCode.validation_error,
    "Variables the template does not have, or none for a variable without a default.",
    field="variables",
)
TOO_LONG_REFUSAL = Refusal(
    422,
    ErrorCode.validation_error,
    "Filled in, the prompt is longer than the job limit (2000 characters).",
    field="body",
    kind="prompt_too_long",
)
TEMPLATE_REFUSAL = Refusal(
    422,
    ErrorCode.validation_error,
    "A variable with two different defaults, or more than 32 variables.",
    field="body",
    kind="variables",
)
FILL_REFUSALS = (VARIABLES_REFUSAL, TOO_LONG_REFUSAL)


def _prompt_id(request: Request) -> int:
    return path_int(request, "prompt_id", maximum=INT32_MAX)


def _index(ctx: HubContext) -> PromptIndex | None:
    return ctx.prompts


# --- templates -----------------------------------------------------------------------------------


@operation(
    "Create a prompt template",
    request=PromptCreateIn,
    response=PromptCreated,
    status=201,
    auth=True,
    errors=(RateLimited,),
    tags=TAGS,
    refuses=(TEMPLATE_REFUSAL,),
)
async def create_prompt(request: Request) -> Response:
    """Version 1 of a new template. ``{name}`` and ``{name=default}`` in the body and the
    negative prompt are its variables."""
    actor = await require_actor(request)
    body = await parse_body(request, PromptCreateIn)
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        created = await service.create_prompt(
            session, actor, data=body, limiter=ctx.limiter, index=_index(ctx)
        )
    return json_response(created, 201)


@operation(
    "List prompt templates",
    query=PromptListQuery,
    response=PromptPage,
    errors=(Unauthenticated,),
    tags=TAGS,
)
async def list_prompts(request: Request) -> Response:
    """Public templates (or ``scope=mine`` / ``favorites``), filtered by tag, category, author
    (username) and the official mark; newest or most used first."""
    query = parse_query(request, PromptListQuery)
    actor = await current_actor(request)
    async with get_ctx(request).db.unit_of_work() as session:
        page = await listing.list_prompts(session, actor, query=query)
    return json_response(page)


@operation(
    "Suggest completions, tags and templates",
    query=SuggestQuery,
    response=SuggestOut,
    errors=(Unavailable,),
    tags=TAGS,
)
async def suggest(request: Request) -> Response:
    """For what is typed so far (``q``): phrases of the library that complete it (replace the
    end of ``q`` given as ``replaces``), tags, and matching templates, best first."""
    query = parse_query(request, SuggestQuery)
    actor = await current_actor(request)
    index = get_index(_index(get_ctx(request)))
    user_id = actor.user_id if actor is not None else None
    return json_response(index.suggest(query.q, user_id=user_id, limit=query.limit))


@operation("Get a prompt template", response=PromptOut, errors=(PromptNotFound,), tags=TAGS)
async def get_prompt(request: Request) -> Response:
    actor = await current_actor(request)
    async with get_ctx(request).db.unit_of_work() as session:
        prompt = await service.read_prompt(session, actor, _prompt_id(request))
    return json_response(prompt)


@operation(
    "Edit a prompt template (a new version)",
    request=PromptPatchIn,
    response=PromptCreated,
    auth=True,
    errors=(PromptNotFound, NotPromptAuthor, RateLimited),
    tags=TAGS,
    refuses=(TEMPLATE_REFUSAL,),
)
async def patch_prompt(request: Request) -> Response:
    """The author only. Every change makes a version; sending the current values changes
    nothing and answers the current version."""
    actor = await require_actor(request)
    body = await parse_body(request, PromptPatchIn)
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        written = await service.update_prompt(
            session,
            actor,
            _prompt_id(request),
            changes=body.changes(),
            limiter=ctx.limiter,
            index=_index(ctx),
        )
    return json_response(written)


@operation(
    "Delete a prompt template",
    status=204,
    auth=True,
    errors=(PromptNotFound, Forbidden),
    tags=TAGS,
)
async def delete_prompt(request: Request) -> Response:
    """The author or a moderator. Soft: it disappears everywhere (404) but stays stored."""
    actor = await require_actor(request)
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        await service.delete_prompt(session, actor, _prompt_id(request), index=_index(ctx))
    return Response(status_code=204)


# --- versions ------------------------------------------------------------------------------------


@operation(
    "List a template's versions",
    query=VersionListQuery,
    response=VersionPage,
    errors=(PromptNotFound,),
    tags=TAGS,
)
async def list_versions(request: Request) -> Response:
    query = parse_query(request, VersionListQuery)
    actor = await current_actor(request)
    async with get_ctx(request).db.unit_of_work() as session:
        page = await versions.list_versions(session, actor, _prompt_id(request), query=query)
    return json_response(page)


def _version(request: Request) -> int:
    return path_int(request, "version", maximum=INT32_MAX)


@operation(
    "Get one version of a template",
    response=VersionOut,
    errors=(PromptNotFound, VersionNotFound),
    tags=TAGS,
)
async def get_version(request: Request) -> Response:
    actor = await current_actor(request)
    async with get_ctx(request).db.unit_of_work() as session:
        found = await versions.read_version(session, actor, _prompt_id(request), _version(request))
    return json_response(found)


@operation(
    "Restore an old version (as a new one)",
    response=PromptCreated,
    status=201,
    auth=True,
    errors=(PromptNotFound, VersionNotFound, NotPromptAuthor, RateLimited),
    tags=TAGS,
)
async def restore_version(request: Request) -> Response:
    actor = await require_actor(request)
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        written = await versions.restore_version(
            session,
            actor,
            _prompt_id(request),
            _version(request),
            limiter=ctx.limiter,
            index=_index(ctx),
        )
    return json_response(written, 201)


@operation(
    "Compare two versions word by word",
    query=DiffQuery,
    response=DiffOut,
    errors=(PromptNotFound, VersionNotFound),
    tags=TAGS,
)
async def diff(request: Request) -> Response:
    """Title, body and negative prompt as ``equal`` / ``delete`` / ``insert`` pieces (latin
    words and single CJK characters), tags added and removed, category and params changes."""
    query = parse_query(request, DiffQuery)
    actor = await current_actor(request)
    async with get_ctx(request).db.unit_of_work() as session:
        found = await versions.diff_versions(
            session,
            actor,
            _prompt_id(request),
            old=query.from_version,
            new=query.to_version,
        )
    return json_response(found)


# --- favorites, official -------------------------------------------------------------------------


@operation(
    "Favorite or unfavorite a template",
    response=FavoriteOut,
    auth=True,
    errors=(PromptNotFound, RateLimited),
    tags=TAGS,
)
async def favorite(request: Request) -> Response:
    """``PUT`` adds it to your favorites, ``DELETE`` removes it; both are idempotent."""
    actor = await require_actor(request)
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        result = await service.set_favorite(
            session,
            actor,
            _prompt_id(request),
            on=request.method == "PUT",
            limiter=ctx.limiter,
            index=_index(ctx),
        )
    return json_response(result)


@operation(
    "Mark a template official or not (admin)",
    response=PromptOut,
    auth=True,
    errors=(PromptNotFound, Forbidden, Conflict),
    tags=(*TAGS, "admin"),
)
async def official(request: Request) -> Response:
    """``PUT`` marks a public template official, ``DELETE`` unmarks it; a private one is 409."""
    actor = await require_actor(request)
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        result = await service.set_official(
            session, actor, _prompt_id(request), on=request.method == "PUT", index=_index(ctx)
        )
    return json_response(result)


# --- rooms ---------------------------------------------------------------------------------------


@operation(
    "Use a template in a room",
    request=UseIn,
    response=UseOut,
    auth=True,
    errors=(PromptNotFound, RoomNotFound, RoomEditorsOnly, RoomClosed, RateLimited),
    tags=TAGS,
    refuses=FILL_REFUSALS,
)
async def use_prompt(request: Request) -> Response:
    """Fills the variables and opens a new room with the result as its prompt, negative
    prompt and parameters, or fills ``room`` (you must edit it). Counts one use."""
    actor = await require_actor(request)
    body = await parse_body(request, UseIn)
    ctx = get_ctx(request)
    live = get_rooms(ctx)
    async with ctx.db.unit_of_work() as session:
        result = await use.use_prompt(
            session, actor, _prompt_id(request), data=body, limiter=ctx.limiter, live=live
        )
    return json_response(result)


@operation(
    "Apply a template's style to a prompt",
    request=ApplyIn,
    response=ApplyOut,
    errors=(PromptNotFound,),
    tags=TAGS,
    refuses=FILL_REFUSALS,
)
async def apply(request: Request) -> Response:
    """``prompt`` becomes the template's subject variable (``subject``, else its first
    variable without a default); the other variables take ``variables`` or their defaults."""
    actor = await current_actor(request)
    body = await parse_body(request, ApplyIn)
    async with get_ctx(request).db.unit_of_work() as session:
        row = await service.access_prompt(session, actor, _prompt_id(request))
    return json_response(apply_style(row, body.prompt, body.variables))


@operation(
    "Save a room's prompt as a template",
    request=SaveFromRoomIn,
    response=PromptCreated,
    status=201,
    auth=True,
    errors=(RoomNotFound, Unauthenticated, RateLimited),
    tags=TAGS,
    refuses=(
        TEMPLATE_REFUSAL,
        Refusal(
            422,
            ErrorCode.validation_error,
            "The room's prompt is empty or longer than a template's body may be.",
            field="body",
        ),
    ),
)
async def save_from_room(request: Request) -> Response:
    """The room's current prompt, negative prompt and parameters become version 1 of a new
    template of yours (any room you may see)."""
    actor = await require_actor(request)
    body = await parse_body(request, SaveFromRoomIn)
    ctx = get_ctx(request)
    live = get_rooms(ctx)
    async with ctx.db.unit_of_work() as session:
        created = await use.save_room_prompt(
            session, actor, data=body, limiter=ctx.limiter, live=live, index=_index(ctx)
        )
    return json_response(created, 201)


@operation(
    "Run a batch from the library",
    request=LibraryBatchIn,
    response=BatchOut,
    status=201,
    auth=True,
    errors=(
        PromptNotFound,
        BadRequest,
        ModelNotAllowed,
        InsufficientCredits,
        QueueLimitReached,
        RateLimited,
    ),
    tags=(*TAGS, "jobs"),
    refuses=(
        Refusal(
            422,
            ErrorCode.validation_error,
            "A template's variables, its parameters or the model cannot make a job.",
        ),
        Refusal(400, ErrorCode.bad_request, "More jobs than HUB_JOB_BATCH_MAX_JOBS.", "max_jobs"),
        Refusal(400, ErrorCode.bad_request, "A size above the model's max_size.", "max_size"),
    ),
)
async def create_batch(request: Request) -> Response:
    """Each line fills a template (like "use") and runs it ``count`` times; the whole batch is
    reserved at once (402 with its price otherwise). Follow it with ``GET
    /api/v1/batches/{batch_id}`` and its jobs with ``GET /api/v1/jobs?batch_id=``."""
    ctx = get_ctx(request)
    actor = await require_actor(request)
    await ctx.limiter.hit(ctx.settings.rate_limit_generate, "generate", str(actor.user_id))
    body = await parse_body(request, LibraryBatchIn)
    async with ctx.db.unit_of_work() as session:
        batch = await batches.submit_library_batch(
            session, actor, data=body, wiring=job_wiring(ctx)
        )
    return json_response(batch, 201)


P = f"{API}/prompts/{{prompt_id}}"
routes: list[BaseRoute] = [
    Route(f"{API}/prompts", create_prompt, methods=["POST"], name="prompts_create_prompt"),
    Route(f"{API}/prompts", list_prompts, methods=["GET"], name="prompts_list_prompts"),
    Route(f"{API}/prompts/suggest", suggest, methods=["GET"], name="prompts_suggest"),
    Route(
        f"{API}/prompts/from-room", save_from_room, methods=["POST"], name="prompts_save_from_room"
    ),
    Route(f"{API}/prompts/batches", create_batch, methods=["POST"], name="prompts_create_batch"),
    Route(P, get_prompt, methods=["GET"], name="prompts_get_prompt"),
    Route(P, patch_prompt, methods=["PATCH"], name="prompts_patch_prompt"),
    Route(P, delete_prompt, methods=["DELETE"], name="prompts_delete_prompt"),
    Route(f"{P}/versions", list_versions, methods=["GET"], name="prompts_list_versions"),
    Route(f"{P}/versions/{{version}}", get_version, methods=["GET"], name="prompts_get_version"),
    Route(
        f"{P}/versions/{{version}}/restore",
        restore_version,
        methods=["POST"],
        name="prompts_restore_version",
    ),
    Route(f"{P}/diff", diff, methods=["GET"], name="prompts_diff"),
    Route(f"{P}/favorite", favorite, methods=["PUT", "DELETE"], name="prompts_favorite"),
    Route(f"{P}/use", use_prompt, methods=["POST"], name="prompts_use_prompt"),
    Route(f"{P}/apply", apply, methods=["POST"], name="prompts_apply"),
    Route(
        f"{API}/admin/prompts/{{prompt_id}}/official",
        official,
        methods=["PUT", "DELETE"],
        name="prompts_official",
    ),
    *page_routes,
]
