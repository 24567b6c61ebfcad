"""The forum's JSON API: categories (admins manage them), threads, the comment tree, likes,
edit history, and the moderator actions lock and pin. Reading needs no account."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from hub.accounts.deps import current_actor, require_actor
from hub.api import Refusal, json_response, operation, parse_body, parse_query, path_int
from hub.context import get_ctx
from hub.errors import CSRFFailed, ErrorCode, Forbidden, RateLimited
from hub.forum import categories, comments, likes, reading, threads
from hub.forum.errors import (
    BodyTooLong,
    CategoryExists,
    CategoryInUse,
    CategoryNotFound,
    CommentNotFound,
    ThreadLocked,
    ThreadNotFound,
)
from hub.forum.pages import routes as page_routes
from hub.forum.schemas import (
    CategoryIn,
    CategoryList,
    CategoryOut,
    CategoryPatchIn,
    CommentCreated,
    CommentCreateIn,
    CommentOut,
    CommentPage,
    CommentPatchIn,
    LikeOut,
    PageQuery,
    RevisionPage,
    ThreadCreated,
    ThreadCreateIn,
    ThreadListQuery,
    ThreadOut,
    ThreadPage,
    ThreadPatchIn,
)

API = "/api/v1"
TAGS = ("forum",)
INT32_MAX = 2**31 - 1
TOO_LONG = Refusal(
    413, ErrorCode.payload_too_large, "A body longer than HUB_FORUM_MAX_BODY_CHARS.", field="limit"
)
UNKNOWN_CATEGORY = Refusal(
    422,
    ErrorCode.validation_error,
    "A category that does not exist.",
    field="category",
    kind="unknown_category",
)


def _thread_id(request: Request) -> int:
    return path_int(request, "thread_id", maximum=INT32_MAX)


def _comment_id(request: Request) -> int:
    return path_int(request, "comment_id", maximum=INT32_MAX)


# --- categories --------------------------------------------------------------------------------


@operation("List the forum's categories", response=CategoryList, tags=TAGS)
async def list_categories(request: Request) -> Response:
    """In display order, with their thread counts."""
    async with get_ctx(request).db.unit_of_work() as session:
        items = await categories.list_categories(session)
    return json_response(CategoryList(items=items))


@operation(
    "Create a category (admin)",
    request=CategoryIn,
    response=CategoryOut,
    status=201,
    auth=True,
    errors=(Forbidden, CategoryExists),
    tags=(*TAGS, "admin"),
)
async def create_category(request: Request) -> Response:
    actor = await require_actor(request)
    body = await parse_body(request, CategoryIn)
    async with get_ctx(request).db.unit_of_work() as session:
        created = await categories.create_category(session, actor, body)
    return json_response(created, 201)


@operation(
    "Change a category (admin)",
    request=CategoryPatchIn,
    response=CategoryOut,
    auth=True,
    errors=(Forbidden, CategoryNotFound),
    tags=(*TAGS, "admin"),
)
async def patch_category(request: Request) -> Response:
    """The slug never changes (URLs and works keep it)."""
    actor = await require_actor(request)
    body = await parse_body(request, CategoryPatchIn)
    slug = str(request.path_params["slug"])
    async with get_ctx(request).db.unit_of_work() as session:
        changed = await categories.update_category(session, actor, slug, body)
    return json_response(changed)


@operation(
    "Delete an empty category (admin)",
    status=204,
    auth=True,
    errors=(Forbidden, CategoryNotFound, CategoryInUse),
    tags=(*TAGS, "admin"),
)
async def delete_category(request: Request) -> Response:
    """409 while it has threads (deleted ones too)."""
    actor = await require_actor(request)
    slug = str(request.path_params["slug"])
    async with get_ctx(request).db.unit_of_work() as session:
        await categories.delete_category(session, actor, slug)
    return Response(status_code=204)


# --- threads -----------------------------------------------------------------------------------


@operation(
    "List threads",
    query=ThreadListQuery,
    response=ThreadPage,
    errors=(CategoryNotFound,),
    tags=TAGS,
)
async def list_threads(request: Request) -> Response:
    """Pinned first, then by latest activity; optionally one category's (404 if unknown)."""
    query = parse_query(request, ThreadListQuery)
    async with get_ctx(request).db.unit_of_work() as session:
        page = await threads.list_threads(session, **query.model_dump())
    return json_response(page)


@operation(
    "Start a thread",
    request=ThreadCreateIn,
    response=ThreadCreated,
    status=201,
    auth=True,
    errors=(CSRFFailed, RateLimited, BodyTooLong),
    refuses=(UNKNOWN_CATEGORY, TOO_LONG),
    tags=TAGS,
)
async def create_thread(request: Request) -> Response:
    """The body is Markdown; people ``@mentioned`` in it are notified."""
    actor = await require_actor(request)
    body = await parse_body(request, ThreadCreateIn)
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        ref = await threads.create_thread(session, actor, limiter=ctx.limiter, **body.model_dump())
    return json_response(ThreadCreated(thread_id=ref.id, url=ref.url), 201)


@operation("Get a thread", response=ThreadOut, errors=(ThreadNotFound,), tags=TAGS)
async def get_thread(request: Request) -> Response:
    actor = await current_actor(request)
    async with get_ctx(request).db.unit_of_work() as session:
        thread = await reading.read_thread(session, actor, _thread_id(request))
    return json_response(thread)


@operation(
    "Edit a thread",
    request=ThreadPatchIn,
    response=ThreadOut,
    auth=True,
    errors=(ThreadNotFound, Forbidden, ThreadLocked, BodyTooLong, CSRFFailed),
    refuses=(TOO_LONG,),
    tags=TAGS,
)
async def patch_thread(request: Request) -> Response:
    """The author while the thread is open (409 when locked), or a moderator. The replaced
    version is kept (``/revisions``)."""
    actor = await require_actor(request)
    body = await parse_body(request, ThreadPatchIn)
    async with get_ctx(request).db.unit_of_work() as session:
        thread = await threads.edit_thread(session, actor, _thread_id(request), **body.changes())
    return json_response(thread)


@operation(
    "Delete a thread",
    status=204,
    auth=True,
    errors=(ThreadNotFound, Forbidden, ThreadLocked, CSRFFailed),
    tags=TAGS,
)
async def delete_thread(request: Request) -> Response:
    """Soft delete by the author (while open) or a moderator; the thread then answers 404."""
    actor = await require_actor(request)
    async with get_ctx(request).db.unit_of_work() as session:
        await threads.delete_thread(session, actor, _thread_id(request))
    return Response(status_code=204)


def _flag_handler(flag: str, on: bool, summary: str) -> Route:
    verb = "PUT" if on else "DELETE"
    noun = "lock" if flag == "locked" else "pin"

    @operation(
        summary,
        response=ThreadOut,
        auth=True,
        errors=(ThreadNotFound, Forbidden, CSRFFailed),
        tags=(*TAGS, "moderation"),
    )
    async def handler(request: Request) -> Response:
        """Moderators only (403 for others)."""
        actor = await require_actor(request)
        async with get_ctx(request).db.unit_of_work() as session:
            thread = await threads.set_flag(session, actor, _thread_id(request), flag=flag, on=on)
        return json_response(thread)

    name = f"forum_thread_{noun}" if on else f"forum_thread_un{noun}"
    return Route(f"{API}/threads/{{thread_id}}/{noun}", handler, methods=[verb], name=name)


@operation(
    "Earlier versions of a thread",
    query=PageQuery,
    response=RevisionPage,
    errors=(ThreadNotFound,),
    tags=TAGS,
)
async def thread_revisions(request: Request) -> Response:
    query = parse_query(request, PageQuery)
    async with get_ctx(request).db.unit_of_work() as session:
        page = await reading.thread_revisions(session, _thread_id(request), **query.model_dump())
    return json_response(page)


# --- comments ----------------------------------------------------------------------------------


@operation(
    "A page of a thread's reply tree",
    query=PageQuery,
    response=CommentPage,
    errors=(ThreadNotFound,),
    tags=TAGS,
)
async def list_comments(request: Request) -> Response:
    """Depth first, oldest first among siblings: each reply comes right after the comment it
    answers, with its ``depth``. Deleted comments keep their place, without body or author."""
    query = parse_query(request, PageQuery)
    actor = await current_actor(request)
    async with get_ctx(request).db.unit_of_work() as session:
        page = await reading.read_comments(
            session, actor, _thread_id(request), **query.model_dump()
        )
    return json_response(page)


@operation(
    "Comment on a thread",
    request=CommentCreateIn,
    response=CommentCreated,
    status=201,
    auth=True,
    errors=(ThreadNotFound, CommentNotFound, ThreadLocked, BodyTooLong, RateLimited, CSRFFailed),
    refuses=(TOO_LONG,),
    tags=TAGS,
)
async def create_comment(request: Request) -> Response:
    """``parent_id`` answers a comment of the same thread (404 otherwise). 409 when the thread
    is locked. The author answered and the people ``@mentioned`` are notified."""
    actor = await require_actor(request)
    body = await parse_body(request, CommentCreateIn)
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        ref = await comments.add_comment(
            session,
            actor,
            _thread_id(request),
            body=body.body,
            parent_id=body.parent_id,
            limiter=ctx.limiter,
        )
    return json_response(
        CommentCreated(comment_id=ref.id, thread_id=ref.thread_id, url=ref.url), 201
    )


@operation(
    "Edit a comment",
    request=CommentPatchIn,
    response=CommentOut,
    auth=True,
    errors=(CommentNotFound, Forbidden, ThreadLocked, BodyTooLong, CSRFFailed),
    refuses=(TOO_LONG,),
    tags=TAGS,
)
async def patch_comment(request: Request) -> Response:
    """The author while the thread is open, or a moderator; the old body is kept."""
    actor = await require_actor(request)
    body = await parse_body(request, CommentPatchIn)
    async with get_ctx(request).db.unit_of_work() as session:
        comment = await comments.edit_comment(session, actor, _comment_id(request), body=body.body)
    return json_response(comment)


@operation(
    "Delete a comment",
    status=204,
    auth=True,
    errors=(CommentNotFound, Forbidden, ThreadLocked, CSRFFailed),
    tags=TAGS,
)
async def delete_comment(request: Request) -> Response:
    """Soft delete: the comment keeps its place in the tree for its replies."""
    actor = await require_actor(request)
    async with get_ctx(request).db.unit_of_work() as session:
        await comments.delete_comment(session, actor, _comment_id(request))
    return Response(status_code=204)


@operation(
    "Earlier versions of a comment",
    query=PageQuery,
    response=RevisionPage,
    errors=(CommentNotFound,),
    tags=TAGS,
)
async def comment_revisions(request: Request) -> Response:
    query = parse_query(request, PageQuery)
    async with get_ctx(request).db.unit_of_work() as session:
        page = await reading.comment_revisions(session, _comment_id(request), **query.model_dump())
    return json_response(page)


# --- likes -------------------------------------------------------------------------------------


def _like_route(subject: str, on: bool) -> Route:
    is_thread = subject == "thread"
    missing = ThreadNotFound if is_thread else CommentNotFound

    @operation(
        f"{'Like' if on else 'Unlike'} a {subject}",
        response=LikeOut,
        auth=True,
        errors=(missing, RateLimited, CSRFFailed),
        tags=TAGS,
    )
    async def handler(request: Request) -> Response:
        """Idempotent: liking twice changes nothing."""
        actor = await require_actor(request)
        ctx = get_ctx(request)
        like = likes.like_thread if is_thread else likes.like_comment
        target = _thread_id(request) if is_thread else _comment_id(request)
        async with ctx.db.unit_of_work() as session:
            result = await like(session, actor, target, on=on, limiter=ctx.limiter)
        return json_response(result)

    path = f"{API}/{subject}s/{{{subject}_id}}/like"
    name = f"forum_{subject}_{'like' if on else 'unlike'}"
    return Route(path, handler, methods=["PUT" if on else "DELETE"], name=name)


routes: list[BaseRoute] = [
    Route(f"{API}/categories", list_categories, methods=["GET"], name="forum_categories"),
    Route(
        f"{API}/admin/categories", create_category, methods=["POST"], name="forum_category_create"
    ),
    Route(
        f"{API}/admin/categories/{{slug}}",
        patch_category,
        methods=["PATCH"],
        name="forum_category_patch",
    ),
    Route(
        f"{API}/admin/categories/{{slug}}",
        delete_category,
        methods=["DELETE"],
        name="forum_category_delete",
    ),
    Route(f"{API}/threads", list_threads, methods=["GET"], name="forum_threads"),
    Route(f"{API}/threads", create_thread, methods=["POST"], name="forum_thread_create"),
    Route(f"{API}/threads/{{thread_id}}", get_thread, methods=["GET"], name="forum_thread"),
    Route(
        f"{API}/threads/{{thread_id}}", patch_thread, methods=["PATCH"], name="forum_thread_patch"
    ),
    Route(
        f"{API}/threads/{{thread_id}}",
        delete_thread,
        methods=["DELETE"],
        name="forum_thread_delete",
    ),
    _flag_handler("locked", True, "Lock a thread (moderators)"),
    _flag_handler("locked", False, "Unlock a thread (moderators)"),
    _flag_handler("pinned", True, "Pin a thread (moderators)"),
    _flag_handler("pinned", False, "Unpin a thread (moderators)"),
    Route(
        f"{API}/threads/{{thread_id}}/revisions",
        thread_revisions,
        methods=["GET"],
        name="forum_thread_revisions",
    ),
    Route(
        f"{API}/threads/{{thread_id}}/comments",
        list_comments,
        methods=["GET"],
        name="forum_comments",
    ),
    Route(
        f"{API}/threads/{{thread_id}}/comments",
        create_comment,
        methods=["POST"],
        name="forum_comment_create",
    ),
    Route(
        f"{API}/comments/{{comment_id}}",
        patch_comment,
        methods=["PATCH"],
        name="forum_comment_patch",
    ),
    Route(
        f"{API}/comments/{{comment_id}}",
        delete_comment,
        methods=["DELETE"],
        name="forum_comment_delete",
    ),
    Route(
        f"{API}/comments/{{comment_id}}/revisions",
        comment_revisions,
        methods=["GET"],
        name="forum_comment_revisions",
    ),
    _like_route("thread", True),
    _like_route("thread", False),
    _like_route("comment", True),
    _like_route("comment", False),
    *page_routes,
]
