"""The forum's public pages: ``/forum``, ``/forum/{category}`` and ``/t/{id}/{slug}``, readable
without an account, with their search-engine heads (templates/_seo.html); and the form posts that
write (a new thread, a comment or reply, likes, moderator actions), which need an account and the
session's CSRF token like every form of the hub."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from hub.accounts.deps import Actor, csrf_token_for, current_actor
from hub.api import path_int
from hub.context import get_ctx
from hub.errors import NotFound
from hub.forum import comments, likes, reading, threads
from hub.forum.markdown import plain_text
from hub.forum.rules import is_moderator
from hub.forum.schemas import CategoryOut, ThreadOut
from hub.pages import render, to_login
from hub.pagination import DEFAULT_LIMIT

INT32_MAX = 2**31 - 1
COMMENTS_PER_PAGE = 50
DESCRIPTION_CHARS = 160
_IMG_SRC = re.compile(r'<img src="([^"]+)"')
_FLAGS = {"lock": ("locked", True), "unlock": ("locked", False)}
_FLAGS |= {"pin": ("pinned", True), "unpin": ("pinned", False)}


def _absolute(request: Request, path: str) -> str:
    if path.startswith(("http://", "https://")):
        return path
    return get_ctx(request).settings.public_url.rstrip("/") + path


def _form_int(value: Any) -> int | None:
    raw = value if isinstance(value, str) else ""
    return int(raw) if raw.isascii() and raw.isdigit() and 0 < int(raw) <= INT32_MAX else None


def _query_cursor(request: Request) -> str | None:
    return request.query_params.get("cursor") or None


def _next_url(path: str, cursor: str | None) -> str | None:
    return f"{path}?{urlencode({'cursor': cursor})}" if cursor else None


def _base(request: Request, actor: Actor | None) -> dict[str, Any]:
    return {"actor": actor, "csrf_token": csrf_token_for(request) or ""}


# --- reading -----------------------------------------------------------------------------------


async def forum_page(request: Request) -> Response:
    actor = await current_actor(request)
    async with get_ctx(request).db.unit_of_work() as session:
        categories, latest = await reading.forum_index(session, limit=DEFAULT_LIMIT)
    seo = {
        "title": "Forum",
        "description": "Talk about making images together: works, prompts, models and the hub.",
        "canonical": _absolute(request, "/forum"),
    }
    context = {**_base(request, actor), "categories": categories, "latest": latest, "seo": seo}
    return render(request, "forum/index.html", context)


async def category_page(request: Request) -> Response:
    actor = await current_actor(request)
    slug = str(request.path_params["category"])
    cursor = _query_cursor(request)
    async with get_ctx(request).db.unit_of_work() as session:
        category, page = await reading.category_page(
            session, slug, cursor=cursor, limit=DEFAULT_LIMIT
        )
    seo = {
        "title": f"{category.name} · Forum",
        "description": category.description or f"Threads in {category.name}.",
        "canonical": _absolute(request, category.url),
    }
    context = {
        **_base(request, actor),
        "category": category,
        "page": page,
        "seo": seo,
        "next_url": _next_url(category.url, page.next_cursor),
        "is_first_page": cursor is None,
        "error": request.query_params.get("error", ""),
    }
    return render(request, "forum/category.html", context)


def _jsonld(
    request: Request, data: reading.ThreadPageData, category: CategoryOut, canonical: str
) -> dict[str, Any]:
    thread = data.thread
    author = thread.author
    posting: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "DiscussionForumPosting",
        "mainEntityOfPage": canonical,
        "url": canonical,
        "headline": thread.title,
        "text": plain_text(thread.body, limit=5000),
        "datePublished": thread.created_at.isoformat(),
        "dateModified": (thread.edited_at or thread.created_at).isoformat(),
        "isPartOf": _absolute(request, category.url),
        "commentCount": thread.comment_count,
        "interactionStatistic": [
            _counter("LikeAction", thread.like_count),
            _counter("CommentAction", thread.comment_count),
            _counter("ViewAction", thread.view_count),
        ],
    }
    if author is not None:
        posting["author"] = _person(request, author.display_name, author.username)
    posting["comment"] = [
        {
            "@type": "Comment",
            "url": f"{canonical}#c{c.comment_id}",
            "text": plain_text(c.body, limit=2000),
            "datePublished": c.created_at.isoformat(),
            "author": _person(request, c.author.display_name, c.author.username),
        }
        for c in data.comments.items
        if c.author is not None
    ]
    return posting


def _person(request: Request, name: str, username: str) -> dict[str, Any]:
    return {"@type": "Person", "name": name, "url": _absolute(request, f"/u/{username}")}


def _counter(action: str, count: int) -> dict[str, Any]:
    return {
        "@type": "InteractionCounter",
        "interactionType": f"https://schema.org/{action}",
        "userInteractionCount": count,
    }


def _seo(request: Request, data: reading.ThreadPageData, category: CategoryOut) -> dict[str, Any]:
    thread: ThreadOut = data.thread
    canonical = _absolute(request, thread.url)
    image = _IMG_SRC.search(thread.body_html)
    return {
        "title": thread.title,
        "description": plain_text(thread.body, limit=DESCRIPTION_CHARS) or thread.title,
        "canonical": canonical,
        "image": _absolute(request, image.group(1)) if image else None,
        "jsonld": _jsonld(request, data, category, canonical),
    }


async def thread_page(request: Request) -> Response:
    """The thread and a page of its reply tree (``?cursor=``, or ``?comment=`` to start at one
    comment). A wrong or missing slug answers 301 to the canonical URL."""
    actor = await current_actor(request)
    thread_id = path_int(request, "thread_id", maximum=INT32_MAX)
    slug = str(request.path_params.get("slug", ""))
    async with get_ctx(request).db.unit_of_work() as session:
        data = await reading.thread_page(
            session,
            actor,
            thread_id,
            slug=slug,
            cursor=_query_cursor(request),
            start=_form_int(request.query_params.get("comment")),
            limit=COMMENTS_PER_PAGE,
        )
    if data.category is None:
        query = f"?{request.url.query}" if request.url.query else ""
        return RedirectResponse(data.thread.url + query, status_code=301)
    context = {
        **_base(request, actor),
        "thread": data.thread,
        "category": data.category,
        "comments": data.comments,
        "seo": _seo(request, data, data.category),
        "moderator": is_moderator(actor),
        "next_url": _next_url(data.thread.url, data.comments.next_cursor),
        "is_first_page": request.url.query == "",
    }
    return render(request, "forum/thread.html", context)


# --- writing (form posts) ----------------------------------------------------------------------


async def new_thread_form(request: Request) -> Response:
    actor = await current_actor(request)  # checks the form's csrf_token for cookie sessions
    if actor is None:
        return to_login(request)
    ctx = get_ctx(request)
    form = await request.form()
    async with ctx.db.unit_of_work() as session:
        ref = await threads.create_thread(
            session,
            actor,
            category=str(request.path_params["category"]),
            title=str(form.get("title", "")),
            body=str(form.get("body", "")),
            limiter=ctx.limiter,
        )
    return RedirectResponse(ref.url, status_code=303)


async def comment_form(request: Request) -> Response:
    """A comment (or, with ``parent_id``, a reply); back to the page, at the new comment."""
    actor = await current_actor(request)
    if actor is None:
        return to_login(request)
    ctx = get_ctx(request)
    form = await request.form()
    thread_id = path_int(request, "thread_id", maximum=INT32_MAX)
    async with ctx.db.unit_of_work() as session:
        ref = await comments.add_comment(
            session,
            actor,
            thread_id,
            body=str(form.get("body", "")),
            parent_id=_form_int(form.get("parent_id")),
            limiter=ctx.limiter,
        )
    page, _, anchor = ref.url.partition("#")
    return RedirectResponse(f"{page}?comment={ref.id}#{anchor}", status_code=303)


async def like_form(request: Request) -> Response:
    """Like or unlike (``on`` = 1 or 0) the thread, or one of its comments (``comment_id``)."""
    actor = await current_actor(request)
    if actor is None:
        return to_login(request)
    ctx = get_ctx(request)
    form = await request.form()
    thread_id = path_int(request, "thread_id", maximum=INT32_MAX)
    comment_id = _form_int(form.get("comment_id"))
    on = form.get("on") == "1"
    async with ctx.db.unit_of_work() as session:
        if comment_id is None:
            await likes.like_thread(session, actor, thread_id, on=on, limiter=ctx.limiter)
        else:
            await likes.like_comment(session, actor, comment_id, on=on, limiter=ctx.limiter)
        ref = await threads.visible_thread(session, actor, thread_id)
    anchor = f"#c{comment_id}" if comment_id is not None else ""
    return RedirectResponse(ref.url + anchor, status_code=303)


async def moderate_form(request: Request) -> Response:
    """Lock, unlock, pin or unpin (``action``); moderators only (403)."""
    actor = await current_actor(request)
    if actor is None:
        return to_login(request)
    form = await request.form()
    flag = _FLAGS.get(str(form.get("action", "")))
    if flag is None:
        raise NotFound("No such action.")
    thread_id = path_int(request, "thread_id", maximum=INT32_MAX)
    async with get_ctx(request).db.unit_of_work() as session:
        thread = await threads.set_flag(session, actor, thread_id, flag=flag[0], on=flag[1])
    return RedirectResponse(thread.url, status_code=303)


routes: list[BaseRoute] = [
    Route("/forum", forum_page, methods=["GET"], name="forum_page"),
    Route("/forum/{category}", category_page, methods=["GET"], name="forum_category_page"),
    Route("/forum/{category}/threads", new_thread_form, methods=["POST"], name="forum_thread_form"),
    Route("/t/{thread_id}", thread_page, methods=["GET"], name="forum_thread_bare"),
    Route("/t/{thread_id}/{slug}", thread_page, methods=["GET"], name="forum_thread_page"),
    Route("/t/{thread_id}/comments", comment_form, methods=["POST"], name="forum_comment_form"),
    Route("/t/{thread_id}/like", like_form, methods=["POST"], name="forum_like_form"),
    Route("/t/{thread_id}/moderate", moderate_form, methods=["POST"], name="forum_moderate_form"),
]
