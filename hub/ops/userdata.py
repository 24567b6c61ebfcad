"""``hub user export <user> out.zip`` and ``hub user import in.zip``: one account's data as a zip.

The zip holds ``manifest.json`` (format ``hub-user-export`` version 1: the profile, the prompt
templates, the images' metadata and the works' metadata) and ``images/<image_id>.png``, the
original of every image in the library. Importing into another hub recreates the account
(without a password: its owner sets one or signs in through an identity provider), its
templates, its images (new ids, the same pixels, prompt and seed) and its works (their forum
threads are made anew when a work is published).

An import validates the whole zip before writing anything and writes every row in one
transaction; files it stored before a failure are deleted again, so a bad zip leaves nothing.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hub.accounts import users
from hub.accounts.roles import UserRole
from hub.db import Database
from hub.errors import HubError
from hub.prompts import service as prompts
from hub.prompts.schemas import PromptCreateIn
from hub.settings import Settings
from hub.storage import service as storage_service
from hub.storage.backends import Storage
from hub.storage.cleanup import delete_keys
from hub.storage.component import open_storage
from hub.works import service as works
from hub.works.cli import ProgressBar
from hub.works.schemas import WorkCreateIn

FORMAT = "hub-user-export"
VERSION = 1
MAX_MANIFEST_BYTES = 20 * 1024 * 1024
MAX_IMAGE_BYTES = 64 * 1024 * 1024


class ImportRefused(Exception):
    """The zip cannot be imported; the message says why (nothing was written)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProfileOut(_Strict):
    username: str
    email: str
    display_name: str
    bio: str = ""
    role: UserRole = UserRole.USER


class PromptOut(_Strict):
    title: str
    body: str
    negative_prompt: str = ""
    category: str | None = None
    tags: list[str] = Field(default_factory=list)
    params: dict[str, Any] = Field(default_factory=dict)
    visibility: str


class ImageOut(_Strict):
    image_id: str
    file: str
    job_id: str
    index: int
    room_id: str | None = None
    seed: str
    model: str
    prompt: str
    negative_prompt: str = ""
    params: dict[str, Any] = Field(default_factory=dict)
    width: int
    height: int


class WorkOut(_Strict):
    title: str
    description: str = ""
    status: Literal["draft", "published"]
    category: str | None = None
    image_ids: list[str]


class Manifest(_Strict):
    format: Literal["hub-user-export"]
    version: Literal[1]
    profile: ProfileOut
    prompts: list[PromptOut] = Field(default_factory=list)
    images: list[ImageOut] = Field(default_factory=list)
    works: list[WorkOut] = Field(default_factory=list)


# --- export --------------------------------------------------------------------------------------


async def export_user(db: Database, storage: Storage, username: str, out: Path) -> Manifest:
    """Write ``username``'s data to ``out``; raises LookupError for an unknown user."""
    async with db.unit_of_work() as session:
        user = await users.get_user_by_username(session, username)
        if user is None:
            raise LookupError(f"no user named {username!r}")
        user_id = users.user_id_of(user)
        templates = await prompts.prompts_by_author(session, user_id)
        images = await storage_service.images_by_owner(session, user_id)
        authored = await works.works_by_author(session, user_id)
    kept = {image.image_id for image in images}
    manifest = Manifest(
        format=FORMAT,
        version=VERSION,
        profile=ProfileOut(
            username=user.username,
            email=user.email,
            display_name=user.display_name,
            bio=user.bio,
            role=UserRole(user.role),
        ),
        prompts=[
            PromptOut(
                title=t.title,
                body=t.body,
                negative_prompt=t.negative_prompt,
                category=t.category,
                tags=list(t.tags),
                params=dict(t.params),
                visibility=t.visibility,
            )
            for t in templates
        ],
        images=[_image_out(image) for image in images],
        # Images of a work that are not in the library (a room's, deleted) cannot travel.
        works=[
            WorkOut(
                title=work.title,
                description=work.description,
                status="published" if work.status == "published" else "draft",
                category=work.category,
                image_ids=[i for i in image_ids if i in kept],
            )
            for work, image_ids in authored
            if any(i in kept for i in image_ids)
        ],
    )
    progress = ProgressBar("images")
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", manifest.model_dump_json(indent=2))
        for done, image in enumerate(images, start=1):
            archive.writestr(f"images/{image.image_id}.png", await storage.get(image.key))
            progress(done, len(images))
    return manifest


def _image_out(image: Any) -> ImageOut:
    return ImageOut(
        image_id=image.image_id,
        file=f"images/{image.image_id}.png",
        job_id=image.job_id,
        index=image.index,
        room_id=image.room_id,
        seed=image.seed,
        model=image.model,
        prompt=image.prompt,
        negative_prompt=image.negative_prompt,
        params=dict(image.params),
        width=image.width,
        height=image.height,
    )


# --- import --------------------------------------------------------------------------------------


def read_archive(path: Path) -> tuple[Manifest, dict[str, bytes]]:
    """The manifest and the image files of ``path``, all checked; raises ImportRefused."""
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise ImportRefused(f"{path} is not a zip file ({exc})") from None
    with archive:
        manifest = _manifest(archive)
        files: dict[str, bytes] = {}
        for image in manifest.images:
            try:
                info = archive.getinfo(image.file)
            except KeyError:
                raise ImportRefused(f"the zip lacks {image.file}") from None
            if info.file_size > MAX_IMAGE_BYTES:
                raise ImportRefused(f"{image.file} is larger than {MAX_IMAGE_BYTES} bytes")
            files[image.image_id] = _read(archive, image.file)
    known = set(files)
    for work in manifest.works:
        missing = [i for i in work.image_ids if i not in known]
        if missing or not work.image_ids:
            raise ImportRefused(f"work {work.title!r} names images the zip lacks: {missing}")
    return manifest, files


def _read(archive: zipfile.ZipFile, name: str) -> bytes:
    try:
        return archive.read(name)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ImportRefused(f"{name} cannot be read ({exc})") from None


def _manifest(archive: zipfile.ZipFile) -> Manifest:
    try:
        info = archive.getinfo("manifest.json")
    except KeyError:
        raise ImportRefused("the zip has no manifest.json") from None
    if info.file_size > MAX_MANIFEST_BYTES:
        raise ImportRefused("manifest.json is too large")
    try:
        return Manifest.model_validate(json.loads(_read(archive, "manifest.json")))
    except (ValueError, ValidationError) as exc:
        raise ImportRefused(f"manifest.json is not a {FORMAT} v{VERSION} manifest: {exc}") from None


async def import_user(db: Database, storage: Storage, path: Path) -> Manifest:
    """Recreate the account of ``path``; raises ImportRefused (nothing is left behind)."""
    manifest, files = read_archive(path)
    stored: list[str] = []
    try:
        async with db.unit_of_work() as session:
            profile = manifest.profile
            user = await users.create_user(
                session,
                email=profile.email,
                username=profile.username,
                password=None,
                role=profile.role,
                display_name=profile.display_name,
            )
            user.bio = profile.bio
            actor = users.actor_for(user, auth="session")
            for prompt in manifest.prompts:
                data = PromptCreateIn.model_validate(prompt.model_dump(exclude_none=True))
                await prompts.create_prompt(session, actor, data=data, limiter=None)
            new_ids = await _import_images(session, storage, actor.user_id, manifest, files, stored)
            for work in manifest.works:
                body = await _work_body(session, work, new_ids)
                await works.create_work(session, actor, storage, body, limiter=None)
    except (HubError, ValidationError, ValueError) as exc:
        await delete_keys(storage, stored)
        raise ImportRefused(_describe(exc)) from None
    except BaseException:
        await delete_keys(storage, stored)
        raise
    return manifest


async def _import_images(
    session: Any,
    storage: Storage,
    owner_id: int,
    manifest: Manifest,
    files: dict[str, bytes],
    stored: list[str],
) -> dict[str, str]:
    new_ids: dict[str, str] = {}
    progress = ProgressBar("images")
    for done, image in enumerate(manifest.images, start=1):
        view = await storage_service.save_generated_image(
            session,
            storage,
            owner_id=owner_id,
            job_id=image.job_id,
            room_id=None,  # rooms do not travel
            index=image.index,
            data=files[image.image_id],
            mime="image/png",
            width=image.width,
            height=image.height,
            seed=int(image.seed),
            model=image.model,
            prompt=image.prompt,
            negative_prompt=image.negative_prompt,
            params=image.params,
        )
        row = await storage_service.get_image(session, view.image_id)
        if row is not None:
            stored.extend((row.key, row.thumb_key, row.square_key))
        new_ids[image.image_id] = view.image_id
        progress(done, len(manifest.images))
    return new_ids


async def _work_body(session: Any, work: WorkOut, new_ids: dict[str, str]) -> WorkCreateIn:
    category = work.category
    if category is not None:
        try:
            await works.check_category(session, category)
        except HubError:
            category = None  # this hub has no such forum category: the work keeps none
    return WorkCreateIn(
        image_ids=[new_ids[i] for i in work.image_ids],
        title=work.title,
        description=work.description,
        status=work.status,
        category=category,
    )


def _describe(exc: BaseException) -> str:
    if isinstance(exc, HubError):
        return exc.message + (f" {exc.details}" if exc.details else "")
    return str(exc)


# --- the commands --------------------------------------------------------------------------------


async def run_export(settings: Settings, username: str, out: Path) -> Manifest:
    db = Database(settings)
    storage = await open_storage(settings)
    try:
        return await export_user(db, storage, username, out)
    finally:
        await storage.aclose()
        await db.dispose()


async def run_import(settings: Settings, path: Path) -> Manifest:
    db = Database(settings)
    storage = await open_storage(settings)
    try:
        return await import_user(db, storage, path)
    finally:
        await storage.aclose()
        await db.dispose()


def manifest_summary(manifest: Manifest) -> str:
    return (
        f"{manifest.profile.username}: {len(manifest.prompts)} prompts, "
        f"{len(manifest.images)} images, {len(manifest.works)} works"
    )
