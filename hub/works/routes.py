"""The works API: make, read, edit, publish, delete; likes and favorites. Pages are in
:mod:`hub.works.pages`, the sitemap and robots.txt in :mod:`hub.works.sitemap`."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from hub.accounts.deps import current_actor, require_actor
from hub.api import Refusal, json_response, operation, parse_body, parse_query, path_int
from hub.collab.component import get_rooms
from hub.context import get_ctx
from hub.errors import Conflict, CSRFFailed, ErrorCode, NotFound, RateLimited
from hub.social.service import ReactionKind
from hub.works import publish, reactions, remix, service
from hub.works.errors import (
    CannotPublishImage,
    NotWorkAuthor,
    WorkImageGone,
    WorkNotFound,
    WorkNotPublished,
)
from hub.works.pages import routes as page_routes
from hub.works.schemas import (
    MAX_IMAGES,
    LineageOut,
    LineageQuery,
    PublishIn,
    RemixIn,
    RemixOut,
    WorkCreatedOut,
    WorkCreateIn,
    WorkListQuery,
    WorkOut,
    WorkPage,
    WorkPatchIn,
)
from hub.works.sitemap import routes as sitemap_routes

API = "/api/v1"
TAGS = ("works",)
MAX_ID = 2**31 - 1

UNKNOWN_CATEGORY = Refusal(
    422,
    ErrorCode.validation_error,
    "A category slug that names no forum category.",
    field="category",
    kind="unknown_category",
)
CREATE_REFUSALS = (
    UNKNOWN_CATEGORY,
    Refusal(
        422,
        ErrorCode.validation_error,
        "Images that come from different rooms (a work tells one room's story).",
        field="image_ids",
        kind="mixed_rooms",
    ),
    Refusal(
        422,
        ErrorCode.validation_error,
        "A thread_id with status draft: a draft has no discussion yet.",
        field="thread_id",
        kind="draft_thread",
    ),
    Refusal(
        422,
        ErrorCode.validation_error,
        f"More than {MAX_IMAGES} images in image_ids and uploads together, or one upload_id "
        "twice in uploads.",
    ),
)


def _work_id(request: Request) -> int:
    return path_int(request, "work_id", maximum=MAX_ID)


@operation(
    "Make a work",
    request=WorkCreateIn,
    response=WorkCreatedOut,
    status=201,
    auth=True,
    errors=(NotFound, CannotPublishImage, Conflict, CSRFFailed, RateLimited),
    tags=TAGS,
    refuses=CREATE_REFUSALS,
)
async def create_work(request: Request) -> Response:
    """From images of a room you edit in or of your library (``image_ids``, 404 for images you
    may not see, 403 for a watched room's), or uploads with their own prompt (``uploads``).
    ``status: published`` also opens its discussion: a thread of its own, or a comment in
    ``thread_id`` (404 unknown, 409 locked). ``url`` is the artwork page."""
    actor = await require_actor(request)
    body = await parse_body(request, WorkCreateIn)
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        created = await service.create_work(session, actor, ctx.storage, body, limiter=ctx.limiter)
    return json_response(created, 201)


@operation("A work", response=WorkOut, errors=(WorkNotFound,), tags=TAGS)
async def get_work(request: Request) -> Response:
    """Published works for everyone; drafts for their author only (404 for others)."""
    actor = await current_actor(request)
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        work = await service.read_work(session, actor, _work_id(request), storage=ctx.storage)
    return json_response(work)


@operation(
    "Edit your work",
    request=WorkPatchIn,
    response=WorkOut,
    auth=True,
    errors=(WorkNotFound, NotWorkAuthor, CSRFFailed),
    tags=TAGS,
    refuses=(UNKNOWN_CATEGORY,),
)
async def patch_work(request: Request) -> Response:
    actor = await require_actor(request)
    body = await parse_body(request, WorkPatchIn)
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        work = await service.update_work(
            session, actor, _work_id(request), body, storage=ctx.storage
        )
    return json_response(work)


@operation(
    "Delete your work",
    status=204,
    auth=True,
    errors=(WorkNotFound, NotWorkAuthor, CSRFFailed),
    tags=TAGS,
)
async def delete_work(request: Request) -> Response:
    """It answers 404 from then on; its discussion thread stays in the forum."""
    actor = await require_actor(request)
    async with get_ctx(request).db.unit_of_work() as session:
        await service.delete_work(session, actor, _work_id(request))
    return Response(status_code=204)


@operation(
    "Publish your draft",
    request=PublishIn,
    response=WorkOut,
    auth=True,
    errors=(WorkNotFound, NotWorkAuthor, NotFound, Conflict, CSRFFailed, RateLimited),
    tags=TAGS,
    refuses=(UNKNOWN_CATEGORY,),
)
async def publish_work(request: Request) -> Response:
    """Opens its discussion (a thread of its own in ``category``, or a comment in ``thread_id``:
    404 unknown, 409 locked) and tells your followers the first time. Publishing a published
    work changes nothing."""
    actor = await require_actor(request)
    body = await parse_body(request, PublishIn)
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        work = await publish.publish_work(
            session, actor, _work_id(request), body, storage=ctx.storage, limiter=ctx.limiter
        )
    return json_response(work)


@operation(
    "Make your work a draft again",
    response=WorkOut,
    auth=True,
    errors=(WorkNotFound, NotWorkAuthor, CSRFFailed),
    tags=TAGS,
)
async def unpublish_work(request: Request) -> Response:
    actor = await require_actor(request)
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        work = await publish.unpublish_work(session, actor, _work_id(request), storage=ctx.storage)
    return json_response(work)


async def _react(request: Request, kind: ReactionKind, on: bool) -> Response:
    actor = await require_actor(request)
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        work = await reactions.react(
            session,
            actor,
            _work_id(request),
            kind,
            on,
            storage=ctx.storage,
            limiter=ctx.limiter,
        )
    return json_response(work)


_REACTION_ERRORS = (WorkNotFound, WorkNotPublished, CSRFFailed, RateLimited)


@operation("Like a work", response=WorkOut, auth=True, errors=_REACTION_ERRORS, tags=TAGS)
async def like_work(request: Request) -> Response:
    """Idempotent: liking twice changes nothing. The answer has the exact ``like_count``."""
    return await _react(request, ReactionKind.like, True)


@operation("Take back a like", response=WorkOut, auth=True, errors=_REACTION_ERRORS, tags=TAGS)
async def unlike_work(request: Request) -> Response:
    return await _react(request, ReactionKind.like, False)


@operation("Favorite a work", response=WorkOut, auth=True, errors=_REACTION_ERRORS, tags=TAGS)
async def favorite_work(request: Request) -> Response:
    """Idempotent; favorites are listed on your profile."""
    return await _react(request, ReactionKind.favorite, True)


@operation("Take back a favorite", response=WorkOut, auth=True, errors=_REACTION_ERRORS, tags=TAGS)
async def unfavorite_work(request: Request) -> Response:
    return await _react(request, ReactionKind.favorite, False)


@operation(
    "Your works, drafts included",
    query=WorkListQuery,
    response=WorkPage,
    auth=True,
    tags=TAGS,
)
async def my_works(request: Request) -> Response:
    actor = await require_actor(request)
    query = parse_query(request, WorkListQuery)
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        page = await service.list_my_works(session, actor, query, storage=ctx.storage)
    return json_response(page)


@operation(
    "Remix a published work",
    request=RemixIn,
    response=RemixOut,
    status=201,
    auth=True,
    errors=(WorkNotFound, WorkImageGone, CSRFFailed, RateLimited),
    tags=TAGS,
)
async def remix_work(request: Request) -> Response:
    """A new private room of yours seeded with the work's final prompt, negative prompt and
    parameters; with ``use_image_as_source`` its cover is copied into your uploads and set as
    the room's ``params.source_image`` (docs/works.md, "Remix"). Works made from the room name
    this one as their parent. Drafts, hidden and deleted works are 404."""
    actor = await require_actor(request)
    body = await parse_body(request, RemixIn)
    ctx = get_ctx(request)
    live = get_rooms(ctx)
    async with ctx.db.unit_of_work() as session:
        out = await remix.remix_work(
            session,
            actor,
            _work_id(request),
            data=body,
            storage=ctx.storage,
            limiter=ctx.limiter,
            live=live,
        )
    return json_response(out, 201)


@operation(
    "A work's ancestors and remixes",
    query=LineageQuery,
    response=LineageOut,
    errors=(WorkNotFound,),
    tags=TAGS,
)
async def work_lineage(request: Request) -> Response:
    """``ancestors``: the parent first, up the chain; ``remixes``: published remixes, newest
    first. Each side pages with its own cursor (``ancestors_next`` → ``?ancestors_cursor=``,
    ``remixes_next`` → ``?remixes_cursor=``); a request with a cursor answers only the sides
    whose cursor it sends. A work you may not see keeps its place as ``{"id", "removed": true}``."""
    actor = await current_actor(request)
    query = parse_query(request, LineageQuery)
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        out = await remix.lineage(session, actor, _work_id(request), query, storage=ctx.storage)
    return json_response(out)


WORK = f"{API}/works/{{work_id}}"

routes: list[BaseRoute] = [
    Route(f"{API}/works", create_work, methods=["POST"], name="works_create"),
    Route(f"{API}/me/works", my_works, methods=["GET"], name="works_mine"),
    Route(WORK, get_work, methods=["GET"], name="works_get"),
    Route(WORK, patch_work, methods=["PATCH"], name="works_patch"),
    Route(WORK, delete_work, methods=["DELETE"], name="works_delete"),
    Route(f"{WORK}/publish", publish_work, methods=["POST"], name="works_publish"),
    Route(f"{WORK}/unpublish", unpublish_work, methods=["POST"], name="works_unpublish"),
    Route(f"{WORK}/remix", remix_work, methods=["POST"], name="works_remix"),
    Route(f"{WORK}/lineage", work_lineage, methods=["GET"], name="works_lineage"),
    Route(f"{WORK}/like", like_work, methods=["PUT"], name="works_like"),
    Route(f"{WORK}/like", unlike_work, methods=["DELETE"], name="works_unlike"),
    Route(f"{WORK}/favorite", favorite_work, methods=["PUT"], name="works_favorite"),
    Route(f"{WORK}/favorite", unfavorite_work, methods=["DELETE"], name="works_unfavorite"),
    *sitemap_routes,
    *page_routes,
]
