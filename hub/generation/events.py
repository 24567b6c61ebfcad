"""Where job events go: the job's room, and the personal streams of the people the job belongs to.

:class:`JobEvents` is the event sink of every worker (embedded or ``hub worker``) and of the job
service (``job.queued`` on submit, ``job.canceled`` for a queued job). For each event it

1. appends it to the room's event stream (``/rooms/{slug}/events``) when the job has a room and
   its owner may start generations there (editor or owner; looked up once per job per process and
   cached). ``job.progress`` is sent with ``persist=False``: a tick is superseded by the next one,
   so reconnecting clients are not replayed hundreds of them;
2. delivers it to the personal streams (``GET /api/v1/jobs/events``) of the job's owner and payer
   open in this process, and publishes it once on the bus channel ``{prefix}jobs:events`` so that
   every *other* process delivers it to its own subscribers (the bus never echoes to the sender).

Room events go through a :class:`rooms.server.RoomServer`: the web process's own, or in a worker
process one that only publishes. Either way the store assigns the room's ``seq`` and the bus
carries the event in the rooms' own format, so web processes cannot tell where it came from.

Previews are shrunk to at most 64 px JPEG data URLs (:func:`preview_data_url`) before they reach
any stream: a preview rides on every progress tick to every member of the room.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from PIL import Image

from hub.db import Database, utcnow
from hub.generation.errors import TooManyJobStreams
from hub.generation.queue import JobRef
from rooms.bus import Bus, BusMessage, Subscription

log = logging.getLogger(__name__)

# (room slug, event type, data, persist) -> the emitted event
RoomEmitter = Callable[[str, str, Mapping[str, Any], bool], Awaitable[Any]]

PROGRESS = "job.progress"
TERMINAL = frozenset({"job.succeeded", "job.failed", "job.canceled"})
# What each event type carries to clients; anything else the worker adds stays internal.
FIELDS: Mapping[str, tuple[str, ...]] = {
    "job.queued": ("position", "reason", "attempt", "retry_at"),
    "job.started": ("attempt",),
    PROGRESS: ("step", "total", "eta_s", "preview"),
    "job.succeeded": ("images",),
    "job.failed": ("reason", "code"),
    "job.canceled": (),
}
IMAGE_FIELDS = ("image_id", "url", "thumb_url", "width", "height")

PREVIEW_MAX_SIDE = 64
PREVIEW_MAX_INPUT_BYTES = 4 * 1024 * 1024
PREVIEW_MAX_INPUT_PIXELS = 16_000_000
PREVIEW_FORMATS = ("JPEG", "PNG", "WEBP")

STREAMS_PER_USER = 8
STREAM_QUEUE_SIZE = 256
ROUTE_CACHE_SIZE = 4096


# --- previews ------------------------------------------------------------------------------------


def shrink_preview(data: bytes) -> bytes | None:
    """A JPEG of at most 64 px per side, or None for anything that is not a sane image."""
    if not data or len(data) > PREVIEW_MAX_INPUT_BYTES:
        return None
    try:
        # Pillow only warns about a huge declared size (an error where warnings are errors, as in
        # the tests); the pixel check below refuses it before anything is decoded.
        with Image.open(io.BytesIO(data), formats=PREVIEW_FORMATS) as image:
            width, height = image.size
            if width * height > PREVIEW_MAX_INPUT_PIXELS:
                return None
            if image.format == "JPEG" and max(width, height) <= PREVIEW_MAX_SIDE:
                return data  # already small (the offline engine's previews)
            image.draft("RGB", (PREVIEW_MAX_SIDE, PREVIEW_MAX_SIDE))  # cheap JPEG downscale
            small = image.convert("RGB")
            small.thumbnail((PREVIEW_MAX_SIDE, PREVIEW_MAX_SIDE))
            out = io.BytesIO()
            small.save(out, "JPEG", quality=70)
            return out.getvalue()
    except (OSError, ValueError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        return None


async def preview_data_url(job: JobRef, data: bytes) -> str | None:
    """The worker's ``preview_sink``: a ``data:image/jpeg;base64,...`` URL (≤ 64 px), or None."""
    small = await asyncio.to_thread(shrink_preview, data)
    if small is None:
        return None
    return "data:image/jpeg;base64," + base64.b64encode(small).decode("ascii")


# --- shaping -------------------------------------------------------------------------------------


def _image(raw: Any) -> dict[str, Any]:
    source = raw if isinstance(raw, Mapping) else {}
    return {name: source.get(name) for name in IMAGE_FIELDS}


def shape_event(
    job: JobRef, kind: str, data: Mapping[str, Any], *, owner_name: str | None
) -> dict[str, Any]:
    """The ``data`` of a job event as clients see it: who and what, then the event's fields."""
    shaped: dict[str, Any] = {
        "job_id": job.job_id,
        "owner_id": job.owner_id,
        "owner_name": owner_name,
        "model": job.model,
        "batch_id": job.batch_id,
    }
    names = FIELDS.get(kind)
    if names is None:
        shaped.update(data)
        return shaped
    raw = dict(data)
    if kind == PROGRESS and "preview" not in raw:
        raw["preview"] = raw.get("preview_url")  # the worker's name for the preview sink's answer
    for name in names:
        if name == "images":
            shaped["images"] = [_image(item) for item in raw.get("images") or []]
        elif name in raw:
            shaped[name] = raw[name]
    if kind == PROGRESS:
        shaped.setdefault("preview", None)
    return shaped


# --- personal streams ----------------------------------------------------------------------------


class JobStream:
    """One open personal stream (one SSE response): a bounded queue of JSON messages."""

    def __init__(self, user_id: int, size: int) -> None:
        self.user_id = user_id
        self._queue: asyncio.Queue[str | None] = asyncio.Queue(size)
        self.closed = False
        # Set when a message that may not be dropped did not fit: the client must reload.
        self.lagged = False

    def offer(self, message: str, *, droppable: bool) -> None:
        if self.closed:
            return
        try:
            self._queue.put_nowait(message)
        except asyncio.QueueFull:
            if droppable:
                return  # a progress tick; the next one supersedes it
            self.lagged = True
            self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        # Wakes a waiting reader; when the queue is full the reader finds `closed` after draining.
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(None)

    async def messages(self, keepalive: float) -> AsyncIterator[str | None]:
        """Messages as they come, None after ``keepalive`` seconds of silence; ends once closed
        and drained."""
        while not (self.closed and self._queue.empty()):
            try:
                item = await asyncio.wait_for(self._queue.get(), keepalive)
            except TimeoutError:
                yield None
                continue
            if item is not None:
                yield item


class PersonalStreams:
    """The personal streams open in this process, by user."""

    def __init__(
        self, *, per_user: int = STREAMS_PER_USER, queue_size: int = STREAM_QUEUE_SIZE
    ) -> None:
        self.per_user = per_user
        self.queue_size = queue_size
        self._by_user: dict[int, set[JobStream]] = {}

    def open(self, user_id: int) -> JobStream:
        streams = self._by_user.setdefault(user_id, set())
        if len(streams) >= self.per_user:
            raise TooManyJobStreams(
                f"At most {self.per_user} job event streams may be open at once.",
                limit=self.per_user,
            )
        stream = JobStream(user_id, self.queue_size)
        streams.add(stream)
        return stream

    def release(self, stream: JobStream) -> None:
        stream.close()
        streams = self._by_user.get(stream.user_id)
        if streams is not None:
            streams.discard(stream)
            if not streams:
                del self._by_user[stream.user_id]

    def count(self, user_id: int) -> int:
        return len(self._by_user.get(user_id, ()))

    def deliver(self, user_ids: Iterable[int], message: str, *, droppable: bool) -> None:
        for user_id in user_ids:
            for stream in list(self._by_user.get(user_id, ())):
                stream.offer(message, droppable=droppable)

    def close_all(self) -> None:
        for streams in list(self._by_user.values()):
            for stream in list(streams):
                stream.close()


def sse_frame(message: str) -> bytes:
    # JSON never contains a raw newline, so one `data:` line per message is always enough.
    return f"data: {message}\n\n".encode()


async def sse_body(
    streams: PersonalStreams, stream: JobStream, *, keepalive: float
) -> AsyncIterator[bytes]:
    """The body of ``GET /api/v1/jobs/events``: a hello, then events, comments as keep-alives,
    and a final ``resync`` when the client fell too far behind (it reconnects and reloads)."""
    try:
        yield b"retry: 3000\n\n"
        yield sse_frame(json.dumps({"type": "hello", "user_id": stream.user_id}))
        async for message in stream.messages(keepalive):
            yield b": keep-alive\n\n" if message is None else sse_frame(message)
        if stream.lagged:
            yield sse_frame(json.dumps({"type": "resync"}))
    finally:
        streams.release(stream)


# --- the sink ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobRoute:
    """Where a job's events go besides its people: the room (None: no room, or its owner may
    not start generations there) and the owner's display name (for the page)."""

    room: str | None
    owner_name: str | None


RouteLookup = Callable[[JobRef], Awaitable[JobRoute]]


def database_route_lookup(db: Database) -> RouteLookup:
    """Looks up a job's room role and owner name through the collab and accounts services."""
    from hub.accounts.users import get_users
    from hub.collab.access import recheck_sockets
    from rooms.types import Role, is_valid_room_id

    async def lookup(job: JobRef) -> JobRoute:
        room: str | None = None
        async with db.unit_of_work() as session:
            users = await get_users(session, [job.owner_id])
            if job.room_id is not None and is_valid_room_id(job.room_id):
                (role,) = await recheck_sockets(session, job.room_id, [job.owner_id])
                if role in (Role.EDITOR, Role.OWNER):
                    room = job.room_id
        owner = users.get(job.owner_id)
        return JobRoute(room=room, owner_name=owner.display_name if owner else None)

    return lookup


class JobEvents:
    """The job event sink ``(job_ref, type, data)``; see the module docstring."""

    def __init__(
        self,
        bus: Bus,
        *,
        channel: str,
        lookup: RouteLookup,
        emit_room: RoomEmitter | None,
        streams: PersonalStreams | None = None,
    ) -> None:
        self.bus = bus
        self.channel = channel
        self.lookup = lookup
        self.emit_room = emit_room
        self.streams = streams or PersonalStreams()
        self._routes: OrderedDict[str, JobRoute] = OrderedDict()
        self._subscription: Subscription | None = None

    async def start(self) -> None:
        self._subscription = await self.bus.subscribe(self.channel, self._on_bus)

    async def stop(self) -> None:
        if self._subscription is not None:
            with contextlib.suppress(Exception):
                await self._subscription.unsubscribe()
            self._subscription = None
        self.streams.close_all()

    async def __call__(self, job: JobRef, kind: str, data: dict[str, Any]) -> None:
        route = await self._route(job)
        shaped = shape_event(job, kind, data, owner_name=route.owner_name)
        if route.room is not None and self.emit_room is not None:
            try:
                await self.emit_room(route.room, kind, shaped, kind != PROGRESS)
            except Exception:
                # The room may be gone or the bus down; the personal streams still get it.
                log.warning(
                    "job event not sent to its room",
                    extra={"job_id": job.job_id, "room": route.room, "event": kind},
                    exc_info=True,
                )
        await self._personal(job, kind, shaped)
        if kind in TERMINAL:
            self._routes.pop(job.job_id, None)

    async def _route(self, job: JobRef) -> JobRoute:
        cached = self._routes.get(job.job_id)
        if cached is not None:
            self._routes.move_to_end(job.job_id)
            return cached
        try:
            route = await self.lookup(job)
        except Exception:
            log.warning("job route lookup failed", extra={"job_id": job.job_id}, exc_info=True)
            return JobRoute(room=None, owner_name=None)  # not cached: the next event retries
        self._routes[job.job_id] = route
        while len(self._routes) > ROUTE_CACHE_SIZE:
            self._routes.popitem(last=False)
        return route

    async def _personal(self, job: JobRef, kind: str, shaped: dict[str, Any]) -> None:
        users = sorted({job.owner_id, job.user_id})
        event = {
            "type": kind,
            "job_id": job.job_id,
            "room_id": job.room_id,
            "ts": utcnow().isoformat(),
            "data": shaped,
        }
        droppable = kind == PROGRESS
        self.streams.deliver(users, _dumps(event), droppable=droppable)
        payload = _dumps({"users": users, "droppable": droppable, "event": event}).encode()
        try:
            await self.bus.publish(self.channel, payload)
        except Exception:
            log.warning(
                "job event not published to other processes",
                extra={"job_id": job.job_id, "event": kind},
                exc_info=True,
            )

    async def _on_bus(self, message: BusMessage) -> None:
        try:
            body = json.loads(message.payload)
            users = body["users"]
            event = body["event"]
            if not (
                isinstance(users, list)
                and all(isinstance(u, int) and not isinstance(u, bool) for u in users)
                and isinstance(event, dict)
                and isinstance(event.get("type"), str)
            ):
                raise ValueError("bad job event")
        except (ValueError, KeyError, TypeError):
            log.warning("dropping a malformed job event from the bus")
            return
        self.streams.deliver(users, _dumps(event), droppable=bool(body.get("droppable")))


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
