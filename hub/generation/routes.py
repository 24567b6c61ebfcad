"""Job API: submit (also from a room), read, list, cancel, your job events (SSE), the queue view,
model presets and admin pause/resume."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from hub.accounts.deps import require_actor
from hub.api import Refusal, json_response, operation, parse_body, parse_query
from hub.collab.access import room_membership
from hub.collab.component import get_rooms
from hub.collab.errors import RoomClosed, RoomNotFound
from hub.context import HubContext, get_ctx
from hub.errors import (
    BadRequest,
    CSRFFailed,
    ErrorCode,
    Forbidden,
    InsufficientCredits,
    RateLimited,
    Unavailable,
)
from hub.generation import pausing, service, submissions
from hub.generation.access import usable_presets
from hub.generation.batch_routes import routes as batch_routes
from hub.generation.errors import (
    JobAlreadyFinished,
    JobNotFound,
    ModelNotAllowed,
    NotRoomEditor,
    QueueLimitReached,
    TooManyJobStreams,
    UnknownModel,
)
from hub.generation.events import JobEvents, sse_body
from hub.generation.pages import routes as page_routes
from hub.generation.providers.registry import ModelPreset
from hub.generation.queue import QueueSignals
from hub.generation.schemas import (
    JobCreateIn,
    JobListQuery,
    JobOut,
    JobPage,
    JobSubmitOut,
    ModelList,
    ModelOut,
    QueueOut,
    QueueStatusOut,
    RoomJobIn,
    job_out,
)
from hub.storage.errors import ImageNotFound

SSE_KEEPALIVE_SECONDS = 15.0
# What this hub serves decides these (GET /api/v1/models lists the models and their sizes).
UNKNOWN_MODEL = Refusal(
    422,
    ErrorCode.validation_error,
    "A model id this hub does not serve.",
    field="model",
    kind="unknown_model",
)
JOB_REFUSALS = (
    UNKNOWN_MODEL,
    Refusal(400, ErrorCode.bad_request, "A side above the model's max_size.", field="max_size"),
    Refusal(
        400,
        ErrorCode.bad_request,
        "More prompts than HUB_JOB_BATCH_MAX_PROMPTS allows.",
        field="max_prompts",
    ),
)


def _presets(ctx: HubContext) -> Mapping[str, ModelPreset]:
    if ctx.generation is None:
        return service.default_presets()
    return ctx.generation.presets


def _events(ctx: HubContext) -> JobEvents | None:
    return ctx.generation.events if ctx.generation is not None else None


def _signals(ctx: HubContext) -> QueueSignals | None:
    # The wake-ups of the worker embedded in this process; None when it runs none (the
    # workers of other processes poll).
    worker = ctx.generation.worker if ctx.generation is not None else None
    return worker.signals if worker is not None else None


@operation(
    "Start a generation (text2img, img2img or a batch)",
    request=JobCreateIn,
    response=JobSubmitOut,
    status=201,
    auth=True,
    errors=(
        BadRequest,
        ModelNotAllowed,
        RoomNotFound,
        ImageNotFound,
        InsufficientCredits,
        QueueLimitReached,
        RateLimited,
    ),
    tags=("jobs",),
    refuses=JOB_REFUSALS,
)
async def create_job(request: Request) -> Response:
    """Credits are reserved at once (402 ``insufficient_credits`` with ``details: {balance,
    required}`` otherwise), charged when the job succeeds and refunded if it fails or is canceled.
    A batch makes one job per prompt, each with ``count`` images."""
    ctx = get_ctx(request)
    actor = await require_actor(request)
    await ctx.limiter.hit(ctx.settings.rate_limit_generate, "generate", str(actor.user_id))
    body = await parse_body(request, JobCreateIn)
    async with ctx.db.unit_of_work() as session:
        submission = await service.submit_job(
            session,
            actor,
            request=body,
            presets=_presets(ctx),
            on_event=_events(ctx),
            check_source=True,
            check_room=True,
            signals=_signals(ctx),
        )
    return json_response(submission.out(), status=201)


@operation(
    "Start a generation from a room's document",
    request=RoomJobIn,
    response=JobSubmitOut,
    status=201,
    auth=True,
    errors=(
        RoomNotFound,
        NotRoomEditor,
        ModelNotAllowed,
        RoomClosed,
        UnknownModel,
        ImageNotFound,
        InsufficientCredits,
        QueueLimitReached,
        RateLimited,
        CSRFFailed,
    ),
    tags=("jobs", "rooms"),
    refuses=(
        *JOB_REFUSALS,
        Refusal(
            422,
            ErrorCode.validation_error,
            "The room's document (its prompt, negative prompt and params) cannot make a job: "
            "an empty prompt, a parameter of the wrong shape or out of range.",
        ),
    ),
)
async def create_room_job(request: Request) -> Response:
    """Editors and the owner. Takes the room's prompt, negative prompt and params (model, size,
    steps, seed, strength, count) from its live document; the body (optional, every field
    optional) overrides them. The room owner pays when the room's ``payer`` is ``owner``, else
    whoever pressed. An empty prompt is 422, viewers 403, a closed room 409, too few credits
    402 with ``details: {balance, required}``. Progress goes to the room's event stream."""
    ctx = get_ctx(request)
    actor = await require_actor(request)
    await ctx.limiter.hit(ctx.settings.rate_limit_generate, "generate", str(actor.user_id))
    body = await parse_body(request, RoomJobIn) if await request.body() else RoomJobIn()
    async with ctx.db.unit_of_work() as session:
        submission = await submissions.submit_room_job(
            session,
            actor,
            slug=str(request.path_params["slug"]),
            overrides=body,
            read_document=get_rooms(ctx).read_document,
            presets=_presets(ctx),
            on_event=_events(ctx),
            signals=_signals(ctx),
        )
    return json_response(submission.out(), status=201)


@operation(
    "Your job events (Server-Sent Events)",
    auth=True,
    errors=(TooManyJobStreams, Unavailable),
    tags=("jobs",),
)
async def job_events(request: Request) -> Response:
    """A ``text/event-stream`` of the events of the jobs you started or pay for, wherever they
    run: each ``data:`` line is one JSON object ``{type, job_id, room_id, ts, data}`` (types as
    in the room stream, see docs/generation.md). Not replayed: after a reconnect, or a
    ``{"type": "resync"}`` message, reload ``GET /api/v1/jobs``."""
    ctx = get_ctx(request)
    actor = await require_actor(request)
    events = _events(ctx)
    if events is None:
        raise Unavailable("Job events are not available in this process.")
    stream = events.streams.open(actor.user_id)
    body = sse_body(events.streams, stream, keepalive=SSE_KEEPALIVE_SECONDS)
    headers = {"cache-control": "no-cache", "x-accel-buffering": "no"}
    return StreamingResponse(body, media_type="text/event-stream", headers=headers)


@operation("One of your jobs", response=JobOut, auth=True, errors=(JobNotFound,), tags=("jobs",))
async def get_job(request: Request) -> Response:
    """Queued jobs carry their ``position`` and an ``eta_s`` estimate."""
    actor = await require_actor(request)
    async with get_ctx(request).db.unit_of_work() as session:
        job = await service.get_job_view(session, actor, request.path_params["job_id"])
    return json_response(job)


@operation(
    "Your jobs, newest first",
    query=JobListQuery,
    response=JobPage,
    auth=True,
    errors=(BadRequest,),
    tags=("jobs",),
)
async def list_jobs(request: Request) -> Response:
    actor = await require_actor(request)
    query = parse_query(request, JobListQuery)
    async with get_ctx(request).db.unit_of_work() as session:
        page = await service.list_jobs(session, actor, query=query)
    return json_response(page)


@operation(
    "Cancel one of your jobs",
    response=JobOut,
    auth=True,
    errors=(JobNotFound, JobAlreadyFinished),
    tags=("jobs",),
)
async def cancel_job(request: Request) -> Response:
    """A queued job is canceled and refunded at once; a running one gets ``cancel_requested``
    and its worker stops it and refunds it shortly after."""
    ctx = get_ctx(request)
    actor = await require_actor(request)
    async with ctx.db.unit_of_work() as session:
        job = await service.cancel_job(
            session,
            actor,
            request.path_params["job_id"],
            on_event=_events(ctx),
            signals=_signals(ctx),
        )
    return json_response(job_out(job))


@operation(
    "Run one of your jobs again",
    response=JobSubmitOut,
    status=201,
    auth=True,
    errors=(
        BadRequest,
        JobNotFound,
        RoomNotFound,
        NotRoomEditor,
        RoomClosed,
        UnknownModel,
        ModelNotAllowed,
        ImageNotFound,
        InsufficientCredits,
        QueueLimitReached,
        RateLimited,
    ),
    tags=("jobs",),
    refuses=(
        *JOB_REFUSALS,
        Refusal(
            422,
            ErrorCode.validation_error,
            "The job's parameters are no longer accepted (limits changed since).",
        ),
    ),
)
async def rerun_job(request: Request) -> Response:
    """A new job with the same model, prompt, size, steps, seed, count and source as one you
    started (in any state), credits reserved as for any job. A room's job runs in that room
    again if you may still generate there (404/403/409 otherwise); the room's payer pays."""
    ctx = get_ctx(request)
    actor = await require_actor(request)
    await ctx.limiter.hit(ctx.settings.rate_limit_generate, "generate", str(actor.user_id))
    async with ctx.db.unit_of_work() as session:
        submission = await submissions.rerun_job(
            session,
            actor,
            request.path_params["job_id"],
            presets=_presets(ctx),
            on_event=_events(ctx),
            signals=_signals(ctx),
        )
    return json_response(submission.out(), status=201)


@operation("The generation queue", response=QueueOut, auth=True, tags=("jobs",))
async def get_queue(request: Request) -> Response:
    """Running jobs, then queued ones in expected start order. Other people's prompts are hidden
    unless the job belongs to a room you are in."""
    ctx = get_ctx(request)
    actor = await require_actor(request)
    async with ctx.db.unit_of_work() as session:
        view = await service.get_queue(session, actor, can_see_room=room_membership(actor))
    return json_response(view)


@operation("Models you can use", response=ModelList, auth=True, tags=("jobs",))
async def list_models(request: Request) -> Response:
    """Only the models your role may use (the presets' rules and the admins' ``model_access``)."""
    ctx = get_ctx(request)
    actor = await require_actor(request)
    async with ctx.db.unit_of_work() as session:
        usable = await usable_presets(session, _presets(ctx), actor)
    items = [
        ModelOut(
            id=p.id,
            label=p.label,
            cost_per_image=p.cost_per_image,
            default_steps=p.default_steps,
            max_size=p.max_size,
        )
        for p in usable
    ]
    return json_response(ModelList(items=items))


@operation(
    "Pause the queue (admin)",
    response=QueueStatusOut,
    auth=True,
    errors=(Forbidden,),
    tags=("jobs", "admin"),
)
async def pause_queue(request: Request) -> Response:
    """Workers start nothing while paused; running jobs finish."""
    actor = await require_actor(request)
    async with get_ctx(request).db.unit_of_work() as session:
        status = await pausing.pause_queue(session, actor)
    return json_response(status)


@operation(
    "Resume the queue (admin)",
    response=QueueStatusOut,
    auth=True,
    errors=(Forbidden,),
    tags=("jobs", "admin"),
)
async def resume_queue(request: Request) -> Response:
    ctx = get_ctx(request)
    actor = await require_actor(request)
    async with ctx.db.unit_of_work() as session:
        status = await pausing.resume_queue(session, actor, signals=_signals(ctx))
    return json_response(status)


routes: list[BaseRoute] = [
    Route("/api/v1/jobs", create_job, methods=["POST"], name="jobs_create"),
    Route("/api/v1/jobs", list_jobs, methods=["GET"], name="jobs_list"),
    # Before /jobs/{job_id}: "events" is not a job id.
    Route("/api/v1/jobs/events", job_events, methods=["GET"], name="jobs_events"),
    Route("/api/v1/rooms/{slug}/jobs", create_room_job, methods=["POST"], name="room_jobs_create"),
    Route("/api/v1/jobs/{job_id}", get_job, methods=["GET"], name="jobs_get"),
    Route("/api/v1/jobs/{job_id}/cancel", cancel_job, methods=["POST"], name="jobs_cancel"),
    Route("/api/v1/jobs/{job_id}/rerun", rerun_job, methods=["POST"], name="jobs_rerun"),
    Route("/api/v1/queue", get_queue, methods=["GET"], name="queue_view"),
    Route("/api/v1/models", list_models, methods=["GET"], name="models_list"),
    Route("/api/v1/admin/queue/pause", pause_queue, methods=["POST"], name="queue_pause"),
    Route("/api/v1/admin/queue/resume", resume_queue, methods=["POST"], name="queue_resume"),
    *batch_routes,
    *page_routes,
]
