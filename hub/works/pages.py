"""Browser pages of the works domain: the artwork page ``/artwork/{id}/{slug}`` (readable
without an account), its author's buttons (publish, unpublish, delete), and the form that makes a
work, ``/works/new``, reached from a room's images and from "My images"."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from hub.accounts.deps import Actor, csrf_token_for, current_actor, require_actor
from hub.api import path_int, validate
from hub.collab.access import room_visibility
from hub.collab.component import get_rooms
from hub.context import get_ctx
from hub.errors import HubError, ValidationFailed
from hub.forum.categories import list_categories
from hub.pages import render, to_login
from hub.storage.room_images import list_room_images
from hub.storage.schemas import ImageQuery
from hub.storage.service import list_images, upload_image
from hub.works import publish, service
from hub.works.artwork import Moved, artwork_view
from hub.works.remix import remix_work
from hub.works.schemas import MAX_IMAGES, PublishIn, RemixIn, WorkCreateIn

MAX_ID = 2**31 - 1
CANDIDATES = 48  # images offered on the form


def _work_id(request: Request) -> int:
    return path_int(request, "work_id", maximum=MAX_ID)


async def artwork_page(request: Request) -> Response:
    actor = await current_actor(request)
    ctx = get_ctx(request)
    slug = request.path_params.get("slug")
    async with ctx.db.unit_of_work() as session:
        view = await artwork_view(session, actor, _work_id(request), slug=slug, storage=ctx.storage)
    if isinstance(view, Moved):
        return RedirectResponse(view.url, status_code=301)
    context = {"view": view, "actor": actor, "csrf_token": csrf_token_for(request) or ""}
    headers = {"cache-control": "no-store"} if view.is_draft else None
    return render(request, "works/artwork.html", context, headers=headers)


async def _author_action(request: Request, action: str) -> Response:
    """The artwork page's buttons: plain form posts (CSRF-checked by require_actor)."""
    actor = await require_actor(request)
    ctx = get_ctx(request)
    work_id = _work_id(request)
    async with ctx.db.unit_of_work() as session:
        if action == "publish":
            work = await publish.publish_work(
                session, actor, work_id, PublishIn(), storage=ctx.storage, limiter=ctx.limiter
            )
        elif action == "unpublish":
            work = await publish.unpublish_work(session, actor, work_id, storage=ctx.storage)
        else:
            await service.delete_work(session, actor, work_id)
            return RedirectResponse("/images", status_code=303)
    return RedirectResponse(work.url, status_code=303)


async def remix_form(request: Request) -> Response:
    """The artwork page's Remix form: a new room seeded from the work, then that room."""
    actor = await require_actor(request)
    ctx = get_ctx(request)
    form = await request.form()
    body = RemixIn(use_image_as_source=form.get("use_image_as_source") in ("on", "true", "1"))
    live = get_rooms(ctx)
    async with ctx.db.unit_of_work() as session:
        out = await remix_work(
            session,
            actor,
            _work_id(request),
            data=body,
            storage=ctx.storage,
            limiter=ctx.limiter,
            live=live,
        )
    return RedirectResponse(f"/r/{out.room}", status_code=303)


async def publish_form(request: Request) -> Response:
    return await _author_action(request, "publish")


async def unpublish_form(request: Request) -> Response:
    return await _author_action(request, "unpublish")


async def delete_form(request: Request) -> Response:
    return await _author_action(request, "delete")


# --- /works/new ----------------------------------------------------------------------------------


async def _form_context(
    request: Request, actor: Actor, *, room: str | None, chosen: list[str]
) -> dict[str, Any]:
    """The images to choose from (the room's, or your library's) and the categories."""
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        if room:
            images = await list_room_images(
                session,
                room,
                can_see_room=room_visibility(actor),
                storage=ctx.storage,
                limit=CANDIDATES,
            )
        else:
            query = ImageQuery(limit=CANDIDATES)
            images = (await list_images(session, actor, storage=ctx.storage, query=query)).items
        categories = await list_categories(session)
    return {
        "actor": actor,
        "csrf_token": csrf_token_for(request) or "",
        "images": images,
        "chosen": set(chosen),
        "room": room or "",
        "categories": categories,
        "max_images": MAX_IMAGES,
        "values": {},
        "errors": [],
    }


async def new_work_page(request: Request) -> Response:
    """``?room=slug`` offers that room's images, otherwise your library's; ``?image=id`` (any
    number of times) ticks those."""
    actor = await current_actor(request)
    if actor is None:
        return to_login(request)
    room = request.query_params.get("room") or None
    chosen = request.query_params.getlist("image")
    context = await _form_context(request, actor, room=room, chosen=chosen)
    return render(request, "works/new.html", context)


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _body_data(form: FormData, upload_id: str | None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "image_ids": [v for v in form.getlist("image") if isinstance(v, str) and v],
        "title": _text(form, "title"),
        "description": _text(form, "description"),
        "status": _text(form, "status") or "draft",
    }
    if _text(form, "category"):
        data["category"] = _text(form, "category")
    if upload_id is not None:
        source: dict[str, Any] = {"upload_id": upload_id, "prompt": _text(form, "prompt")}
        if _text(form, "negative_prompt"):
            source["negative_prompt"] = _text(form, "negative_prompt")
        if _text(form, "model"):
            source["model"] = _text(form, "model")
        data["uploads"] = [source]
    return data


async def _uploaded_file(form: FormData) -> bytes | None:
    file = form.get("file")
    if not isinstance(file, UploadFile) or not file.filename:
        return None
    return await file.read()


async def create_work_form(request: Request) -> Response:
    """The form's POST: the chosen images (and an optional upload with its prompt) become a
    work; the artwork page follows. Invalid input shows the form again with what was wrong."""
    actor = await require_actor(request)
    ctx = get_ctx(request)
    form = await request.form()
    room, chosen = _text(form, "room") or None, [str(v) for v in form.getlist("image")]
    try:
        async with ctx.db.unit_of_work() as session:
            data = await _uploaded_file(form)
            upload_id = None
            if data is not None:
                upload = await upload_image(
                    session, actor, ctx.storage, data=data, limiter=ctx.limiter
                )
                upload_id = upload.upload_id
            body = validate(WorkCreateIn, _body_data(form, upload_id))
            created = await service.create_work(
                session, actor, ctx.storage, body, limiter=ctx.limiter
            )
    except ValidationFailed as exc:
        return await _form_again(request, actor, exc, room=room, chosen=chosen, form=form)
    return RedirectResponse(created.url, status_code=303)


async def _form_again(
    request: Request,
    actor: Actor,
    error: HubError,
    *,
    room: str | None,
    chosen: list[str],
    form: FormData,
) -> Response:
    context = await _form_context(request, actor, room=room, chosen=chosen)
    fields = error.details.get("fields") if isinstance(error.details, dict) else None
    context["errors"] = [
        f"{f.get('field') or 'form'}: {f.get('message')}"
        for f in fields or []
        if isinstance(f, dict)
    ] or [error.message]
    context["values"] = {k: _text(form, k) for k in ("title", "description", "status", "category")}
    return render(request, "works/new.html", context, status_code=422)


routes: list[BaseRoute] = [
    Route("/artwork/{work_id}", artwork_page, methods=["GET"], name="artwork_bare"),
    Route("/artwork/{work_id}/{slug}", artwork_page, methods=["GET"], name="artwork_page"),
    Route("/artwork/{work_id}/publish", publish_form, methods=["POST"], name="artwork_publish"),
    Route(
        "/artwork/{work_id}/unpublish", unpublish_form, methods=["POST"], name="artwork_unpublish"
    ),
    Route("/artwork/{work_id}/delete", delete_form, methods=["POST"], name="artwork_delete"),
    Route("/artwork/{work_id}/remix", remix_form, methods=["POST"], name="artwork_remix"),
    Route("/works/new", new_work_page, methods=["GET"], name="works_new"),
    Route("/works/new", create_work_form, methods=["POST"], name="works_new_submit"),
]
