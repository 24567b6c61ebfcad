"""Job API: submit, read, list, cancel, the queue view, model presets and admin pause/resume."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from hub.accounts.deps import require_actor
from hub.api import json_response, operation, parse_body, parse_query
from hub.context import HubContext, get_ctx
from hub.errors import BadRequest, Forbidden, InsufficientCredits, RateLimited
from hub.generation import service
from hub.generation.errors import (
    JobAlreadyFinished,
    JobNotFound,
    ModelNotAllowed,
    QueueLimitReached,
)
from hub.generation.providers.registry import ModelPreset
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
)


def _presets(ctx: HubContext) -> Mapping[str, ModelPreset]:
    presets: Mapping[str, ModelPreset] | None = ctx.extras.get(service.PRESETS_KEY)
    return presets if presets is not None else service.default_presets()


def _events(ctx: HubContext) -> Any:
    return ctx.extras.get(service.EVENTS_KEY)


@operation(
    "Start a generation (text2img, img2img or a batch)",
    request=JobCreateIn,
    response=JobSubmitOut,
    status=201,
    auth=True,
    errors=(BadRequest, ModelNotAllowed, InsufficientCredits, QueueLimitReached, RateLimited),
    tags=("jobs",),
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
            session, actor, request=body, presets=_presets(ctx), on_event=_events(ctx)
        )
    return json_response(submission.out(), status=201)


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
            session, actor, request.path_params["job_id"], on_event=_events(ctx)
        )
    return json_response(service.job_out(job))


@operation("The generation queue", response=QueueOut, auth=True, tags=("jobs",))
async def get_queue(request: Request) -> Response:
    """Running jobs, then queued ones in expected start order. Other people's prompts are hidden
    unless the job belongs to a room you are in."""
    ctx = get_ctx(request)
    actor = await require_actor(request)
    room_check = ctx.extras.get(service.ROOM_CHECK_KEY)
    can_see = room_check(actor) if room_check is not None else None
    async with ctx.db.unit_of_work() as session:
        view = await service.get_queue(session, actor, can_see_room=can_see)
    return json_response(view)


@operation("Models you can use", response=ModelList, auth=True, tags=("jobs",))
async def list_models(request: Request) -> Response:
    actor = await require_actor(request)
    items = [
        ModelOut(
            id=p.id,
            label=p.label,
            cost_per_image=p.cost_per_image,
            default_steps=p.default_steps,
            max_size=p.max_size,
        )
        for p in _presets(get_ctx(request)).values()
        if p.allows(actor.role)
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
        status = await service.pause_queue(session, actor)
    return json_response(status)


@operation(
    "Resume the queue (admin)",
    response=QueueStatusOut,
    auth=True,
    errors=(Forbidden,),
    tags=("jobs", "admin"),
)
async def resume_queue(request: Request) -> Response:
    actor = await require_actor(request)
    async with get_ctx(request).db.unit_of_work() as session:
        status = await service.resume_queue(session, actor)
    return json_response(status)


routes: list[BaseRoute] = [
    Route("/api/v1/jobs", create_job, methods=["POST"], name="jobs_create"),
    Route("/api/v1/jobs", list_jobs, methods=["GET"], name="jobs_list"),
    Route("/api/v1/jobs/{job_id}", get_job, methods=["GET"], name="jobs_get"),
    Route("/api/v1/jobs/{job_id}/cancel", cancel_job, methods=["POST"], name="jobs_cancel"),
    Route("/api/v1/queue", get_queue, methods=["GET"], name="queue_view"),
    Route("/api/v1/models", list_models, methods=["GET"], name="models_list"),
    Route("/api/v1/admin/queue/pause", pause_queue, methods=["POST"], name="queue_pause"),
    Route("/api/v1/admin/queue/resume", resume_queue, methods=["POST"], name="queue_resume"),
]
