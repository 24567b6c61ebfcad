"""Submissions whose request is derived rather than sent: from a room's live document
(``POST /api/v1/rooms/{slug}/jobs``) and from an earlier job ("run again",
``POST /api/v1/jobs/{job_id}/rerun``). Both end in :func:`hub.generation.service.submit_job`,
paid by whoever the room's rules name."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from hub.accounts.deps import Actor
from hub.collab.access import access_room
from hub.collab.errors import RoomClosed
from hub.collab.models import Payer, RoomStatus
from hub.errors import InsufficientCredits, ValidationFailed
from hub.generation.access import usable_presets
from hub.generation.errors import JobNotFound, NotRoomEditor
from hub.generation.models import Job, JobKind
from hub.generation.providers.registry import ModelPreset
from hub.generation.queue import QueueSignals
from hub.generation.room_request import room_job_request
from hub.generation.schemas import JobCreateIn, RoomJobIn
from hub.generation.service import (
    JobActor,
    JobEventSink,
    Submission,
    access_job,
    default_presets,
    submit_job,
)
from rooms.types import Role

# --- from a room ---------------------------------------------------------------------------------

# slug -> (the room document as ``rooms.room.read_document`` returns it, where it was read from)
DocumentReader = Callable[[AsyncSession, str], Awaitable[tuple[Mapping[str, Any], str]]]


def _default_model(presets: Mapping[str, ModelPreset], actor: JobActor) -> str | None:
    return next((p.id for p in presets.values() if p.allows(actor.role)), None)


async def submit_room_job(
    session: AsyncSession,
    actor: Actor,
    *,
    slug: str,
    overrides: RoomJobIn,
    read_document: DocumentReader,
    presets: Mapping[str, ModelPreset] | None = None,
    on_event: JobEventSink | None = None,
    signals: QueueSignals | None = None,
) -> Submission:
    """Start a generation from a room's document (``POST /api/v1/rooms/{slug}/jobs``).

    Editors and the owner only (viewers: NotRoomEditor 403; rooms you cannot see: RoomNotFound
    404; closed or archived rooms: RoomClosed 409). The prompt, negative prompt and params come
    from the live document (or the store when the room is not loaded here), ``overrides`` win.
    The room owner pays when the room's ``payer`` is ``owner``, else the member who pressed.
    Everything else is :func:`submit_job`'s (402 with ``balance``, 422 for unknown models, ...).
    """
    owner_pays, payer_id = await _room_payer(session, actor, slug)
    presets = presets if presets is not None else default_presets()
    document, _source = await read_document(session, slug)
    # The default is the first model the caller's role may use (admins' model access rules).
    usable = {p.id: p for p in await usable_presets(session, presets, actor)}
    request = room_job_request(
        document, overrides, room_id=slug, default_model=_default_model(usable, actor)
    )
    return await _submit_paid(
        session,
        actor,
        request=request,
        presets=presets,
        owner_pays=owner_pays,
        payer_id=payer_id,
        on_event=on_event,
        signals=signals,
    )


async def _room_payer(session: AsyncSession, actor: JobActor, slug: str) -> tuple[bool, int]:
    """(does the room's owner pay, who pays) for a generation ``actor`` starts in room ``slug``:
    RoomNotFound 404, RoomClosed 409 or NotRoomEditor 403 when they may not start one."""
    # access_room answers 404 for slugs that cannot exist before any query (NUL bytes, junk).
    access = await access_room(session, actor, slug)  # type: ignore[arg-type]
    if access.room.state != RoomStatus.open or access.room.hidden_at is not None:
        raise RoomClosed("The room is closed; nothing can be generated in it.")
    if access.role is Role.VIEWER:
        raise NotRoomEditor()
    owner_pays = access.room.payer == Payer.owner and access.room.owner_id != actor.user_id
    return owner_pays, access.room.owner_id if owner_pays else actor.user_id


async def _submit_paid(
    session: AsyncSession,
    actor: JobActor,
    *,
    request: JobCreateIn,
    presets: Mapping[str, ModelPreset],
    owner_pays: bool,
    payer_id: int,
    on_event: JobEventSink | None,
    signals: QueueSignals | None,
) -> Submission:
    """:func:`submit_job` paid by ``payer_id``; a room owner's short balance is said so."""
    try:
        return await submit_job(
            session,
            actor,
            request=request,
            presets=presets,
            payer_id=payer_id,
            on_event=on_event,
            check_source=True,
            signals=signals,
        )
    except InsufficientCredits as exc:
        if not owner_pays:
            raise
        raise InsufficientCredits(
            "The room owner pays for generations here, and their credits do not cover this.",
            payer="owner",
            **exc.details,
        ) from None


# --- run again -----------------------------------------------------------------------------------


def _rerun_request(job: Job) -> JobCreateIn:
    """The request that makes ``job`` again: same model, prompts, size, steps, seed, count,
    strength and source, in the same room. A batch member comes back as a single text2img.
    Parameters that today's limits refuse are a 422 naming them."""
    params = job.params or {}
    data: dict[str, Any] = {
        "kind": JobKind.img2img.value if job.source_image_key else JobKind.text2img.value,
        "model": job.model,
        "prompt": job.prompt,
        "negative_prompt": job.negative_prompt,
        "width": params.get("width"),
        "height": params.get("height"),
        "steps": params.get("steps"),
        "seed": params.get("seed"),
        "count": params.get("count", 1),
        "room_id": job.room_id,
    }
    if job.source_image_key:
        data["source_image_key"] = job.source_image_key
        data["strength"] = params.get("strength")
    try:
        return JobCreateIn.model_validate(data)
    except ValidationError as exc:
        fields = [
            {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"], "type": e["type"]}
            for e in exc.errors(include_url=False, include_context=False, include_input=False)
        ]
        raise ValidationFailed(
            "This job's parameters are no longer accepted; start a new one.", fields=fields
        ) from None


async def rerun_job(
    session: AsyncSession,
    actor: JobActor,
    job_id: str,
    *,
    presets: Mapping[str, ModelPreset] | None = None,
    on_event: JobEventSink | None = None,
    signals: QueueSignals | None = None,
) -> Submission:
    """ "Run again" (``POST /api/v1/jobs/{job_id}/rerun``): a new job with the parameters of
    one the actor started (any state), credits reserved as for any submission.

    Only whoever pressed generate may (JobNotFound 404 for anyone else, as for reading it).
    A job from a room runs in that room again under today's rules: the actor must still edit
    there (RoomNotFound 404, NotRoomEditor 403, RoomClosed 409) and the room's payer pays.
    The seed is kept, so the offline engine makes the same image again."""
    job = await access_job(session, actor, job_id)
    if job.owner_id != actor.user_id:
        raise JobNotFound()
    request = _rerun_request(job)
    owner_pays, payer_id = False, actor.user_id
    if job.room_id is not None:
        owner_pays, payer_id = await _room_payer(session, actor, job.room_id)
    return await _submit_paid(
        session,
        actor,
        request=request,
        presets=presets if presets is not None else default_presets(),
        owner_pays=owner_pays,
        payer_id=payer_id,
        on_event=on_event,
        signals=signals,
    )
