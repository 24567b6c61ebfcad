"""HTTP routes of the storage domain: the image library API, uploads and avatars, and
``/media/{key}``, which serves stored objects when the backend has no public URL of its
own (local files, or a private bucket: then a short-lived presigned redirect)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from hub.accounts.deps import require_actor
from hub.accounts.schemas import UserPrivate
from hub.api import Refusal, json_response, operation, parse_body, validate
from hub.collab.access import room_visibility
from hub.collab.errors import NotRoomMember, RoomNotFound
from hub.context import get_ctx
from hub.db import utcnow
from hub.errors import (
    CSRFFailed,
    ErrorCode,
    RateLimited,
    TokenInvalid,
    UnsupportedMediaType,
    ValidationFailed,
)
from hub.storage import downloads, gallery, service
from hub.storage.archive import build_zip
from hub.storage.backends import LocalStorage
from hub.storage.errors import (
    ArchiveTooLarge,
    ImageNotFound,
    InvalidStorageKey,
    ObjectNotFound,
    StorageUnavailable,
    UploadRejected,
)
from hub.storage.models import UploadPurpose
from hub.storage.pages import routes as page_routes
from hub.storage.schemas import (
    AvatarForm,
    DownloadIn,
    ImagePage,
    ImageQuery,
    ImageView,
    UploadForm,
    UploadView,
)

API = "/api/v1"
TAGS = ("images",)
AUTH_ERRORS = (TokenInvalid, CSRFFailed)
UPLOAD_ERRORS = (*AUTH_ERRORS, UploadRejected, UnsupportedMediaType, ValidationFailed, RateLimited)
NOT_AN_IMAGE = Refusal(
    422,
    ErrorCode.upload_rejected,
    "A file that does not decode as a PNG, JPEG or WebP image within the size limits.",
)


def _image_id(request: Request) -> str:
    return str(request.path_params["image_id"])


class _AvatarFields(BaseModel):
    # An unknown form field is refused (422) as in a JSON body: the schemas say so.
    model_config = ConfigDict(extra="forbid")

    csrf_token: str | None = None  # checked by require_actor for cookie sessions


class _UploadFields(_AvatarFields):
    purpose: UploadPurpose = UploadPurpose.source


async def _read_upload(request: Request) -> tuple[bytes, dict[str, Any]]:
    """The ``file`` part's bytes and the other text fields of a multipart upload. The body limit
    middleware has already bounded the size (413 above ``HUB_UPLOAD_MAX_BYTES``)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "multipart/form-data":
        raise UnsupportedMediaType("Send the image as multipart/form-data (field 'file').")
    async with request.form(max_files=1, max_fields=8) as form:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise ValidationFailed(
                fields=[{"field": "file", "message": "Attach an image file.", "type": "missing"}]
            )
        data = await upload.read()
        fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
    return data, fields


# --- library -------------------------------------------------------------------------------------


@operation(
    "My images", response=ImagePage, query=ImageQuery, auth=True, errors=AUTH_ERRORS, tags=TAGS
)
async def list_images(request: Request) -> Response:
    """Your generated images, newest first. ``q`` matches every word in the prompt
    (case-insensitive); ``model``, ``room``, ``since`` (inclusive) and ``until`` (exclusive)
    filter; page with ``next_cursor``."""
    actor = await require_actor(request)
    query = validate(ImageQuery, dict(request.query_params))
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        page = await service.list_images(session, actor, storage=ctx.storage, query=query)
    return json_response(page)


@operation(
    "A room's gallery",
    response=ImagePage,
    query=gallery.GalleryQuery,
    auth=True,
    errors=(*AUTH_ERRORS, RoomNotFound, NotRoomMember, ValidationFailed),
    tags=TAGS,
)
async def room_gallery(request: Request) -> Response:
    """Every image generated in the room, newest first, whoever made it; members only (403 for
    people who may watch the room but never joined it). Page with ``next_cursor``."""
    actor = await require_actor(request)
    query = validate(gallery.GalleryQuery, dict(request.query_params))
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        page = await gallery.list_room_images(
            session, actor, str(request.path_params["slug"]), storage=ctx.storage, query=query
        )
    return json_response(page)


@operation(
    "One image",
    response=ImageView,
    auth=True,
    errors=(*AUTH_ERRORS, ImageNotFound),
    tags=TAGS,
)
async def get_image(request: Request) -> Response:
    """Yours, or made in a room you can see."""
    actor = await require_actor(request)
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        image = await service.access_image(
            session, actor, _image_id(request), can_see_room=room_visibility(actor)
        )
        view = service.image_view(ctx.storage, image)
    return json_response(view)


@operation(
    "Delete an image", status=204, auth=True, errors=(*AUTH_ERRORS, ImageNotFound), tags=TAGS
)
async def delete_image(request: Request) -> Response:
    """Owner only. The image leaves the library at once; its files are removed by the cleanup
    after ``HUB_MEDIA_ORPHAN_GRACE_SECONDS``."""
    actor = await require_actor(request)
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        await service.delete_image(session, actor, _image_id(request))
    return Response(status_code=204)


@operation(
    "Download an image",
    auth=True,
    errors=(*AUTH_ERRORS, ImageNotFound, StorageUnavailable),
    tags=TAGS,
)
async def download_image(request: Request) -> Response:
    """The original PNG as an attachment (``Content-Disposition`` with an ASCII ``filename``
    and, for non-ASCII prompts, RFC 5987 ``filename*``)."""
    actor = await require_actor(request)
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        download = await downloads.open_download(
            session, actor, ctx.storage, _image_id(request), can_see_room=room_visibility(actor)
        )
    headers = {
        "content-disposition": downloads.attachment_header(download.filename),
        "cache-control": "private, no-store",
    }
    if download.stream.size is not None:
        headers["content-length"] = str(download.stream.size)
    return StreamingResponse(download.stream, media_type=download.content_type, headers=headers)


@operation(
    "Download images as a zip",
    request=DownloadIn,
    auth=True,
    errors=(*AUTH_ERRORS, ImageNotFound, ArchiveTooLarge, StorageUnavailable),
    tags=TAGS,
)
async def download_zip(request: Request) -> Response:
    """Up to 100 images (yours, or from rooms you can see) in one stored (uncompressed) zip with
    safe, unique file names. Any image not visible fails the whole request (404, the ids in
    ``details.missing``)."""
    actor = await require_actor(request)
    body = await parse_body(request, DownloadIn)
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        entries = await downloads.zip_entries(
            session, actor, ctx.storage, body.image_ids, can_see_room=room_visibility(actor)
        )
    archive = await build_zip(entries)
    name = f"images-{utcnow():%Y%m%d-%H%M%S}.zip"
    headers = {
        "content-length": str(archive.size),
        "content-disposition": downloads.attachment_header(name),
        "cache-control": "private, no-store",
    }
    return StreamingResponse(archive.iter_chunks(), media_type="application/zip", headers=headers)


# --- uploads -------------------------------------------------------------------------------------


@operation(
    "Upload an image",
    request=UploadForm,
    response=UploadView,
    status=201,
    auth=True,
    errors=UPLOAD_ERRORS,
    tags=TAGS,
    request_content_type="multipart/form-data",
    refuses=(NOT_AN_IMAGE,),
)
async def create_upload(request: Request) -> Response:
    """A PNG, JPEG or WebP image, re-encoded (metadata removed). ``purpose=source`` (default):
    an img2img source (``upload_id`` or ``key``); ``purpose=avatar``: becomes your avatar."""
    actor = await require_actor(request)
    data, fields = await _read_upload(request)
    options = validate(_UploadFields, fields)
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        upload = await service.upload_image(
            session, actor, ctx.storage, data=data, purpose=options.purpose, limiter=ctx.limiter
        )
        view = service.upload_view(ctx.storage, upload)
    return json_response(view, status=201)


@operation(
    "Set my avatar",
    request=AvatarForm,
    response=UserPrivate,
    auth=True,
    errors=UPLOAD_ERRORS,
    tags=("accounts",),
    request_content_type="multipart/form-data",
    refuses=(NOT_AN_IMAGE,),
)
async def set_avatar(request: Request) -> Response:
    """The image is cropped to a 256 px square and replaces your previous avatar."""
    actor = await require_actor(request)
    data, fields = await _read_upload(request)
    validate(_AvatarFields, fields)
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        user = await service.set_avatar(session, actor, ctx.storage, data=data, limiter=ctx.limiter)
    return json_response(user)


@operation(
    "Remove my avatar", response=UserPrivate, auth=True, errors=AUTH_ERRORS, tags=("accounts",)
)
async def clear_avatar(request: Request) -> Response:
    """Back to the default identicon."""
    actor = await require_actor(request)
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        user = await service.clear_avatar(session, actor, ctx.storage)
    return json_response(user)


# --- pages ---------------------------------------------------------------------------------------


# --- media ---------------------------------------------------------------------------------------


async def media(request: Request) -> Response:
    storage = get_ctx(request).storage
    key = request.path_params["key"]
    try:
        # The key comes from the URL: a bad one (``..``, a leading ``/``) is a missing file,
        # for the presigned redirect as for the local file alike, never a 500.
        if not isinstance(storage, LocalStorage):
            url = storage.url_for(key)
            if url:
                return RedirectResponse(url, status_code=307)
        stream = await storage.open_stream(key)
    except InvalidStorageKey:
        raise ObjectNotFound(key) from None
    headers = {"cache-control": "public, max-age=31536000, immutable"}
    if stream.size is not None:
        headers["content-length"] = str(stream.size)
    return StreamingResponse(stream, media_type=stream.content_type, headers=headers)


routes: list[BaseRoute] = [
    Route(f"{API}/images", list_images, methods=["GET"]),
    Route(f"{API}/images/download", download_zip, methods=["POST"]),
    Route(f"{API}/images/{{image_id}}", get_image, methods=["GET"]),
    Route(f"{API}/rooms/{{slug}}/images", room_gallery, methods=["GET"]),
    Route(f"{API}/images/{{image_id}}", delete_image, methods=["DELETE"]),
    Route(f"{API}/images/{{image_id}}/download", download_image, methods=["GET"]),
    Route(f"{API}/uploads", create_upload, methods=["POST"]),
    Route(f"{API}/me/avatar", set_avatar, methods=["POST"]),
    Route(f"{API}/me/avatar", clear_avatar, methods=["DELETE"]),
    Route("/media/{key:path}", media, methods=["GET"], name="media"),
    *page_routes,
]
