"""The rooms component of the web process: builds the :class:`rooms.server.RoomServer` in the app
lifespan and gives the collab services their live actions (kick, role change, close, "recheck
who may stay") on every process.

The composition root (:mod:`hub.compose`) starts a :class:`RoomsComponent` with
:func:`start_rooms` and keeps it in ``ctx.rooms``; other domains publish room events with
:func:`emit_room_event` (generation sends its job events through it). A process without sockets
(``hub worker``) publishes through :func:`start_room_publisher` instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pycrdt import Doc
from sqlalchemy.ext.asyncio import AsyncSession

from hub.accounts import credentials
from hub.collab.access import recheck_sockets
from hub.collab.extensions import HubRoomsExtension, actor_user_id
from hub.collab.store import SqlStore
from hub.context import HubContext
from hub.db import Database
from hub.errors import Unavailable
from hub.settings import Settings
from rooms import close_codes
from rooms.asgi import RoomEndpoints
from rooms.bus import Bus, BusMessage, Subscription
from rooms.config import RoomConfig
from rooms.presence import MemoryPresence, Presence, PresenceUnavailable, RedisPresence
from rooms.room import new_document, read_document
from rooms.server import RoomServer
from rooms.types import Event, Role, is_valid_room_id

log = logging.getLogger(__name__)

# ``params`` a new room starts with; anyone in the room may change them.
DEFAULT_PARAMS: Mapping[str, Any] = {"size": "1024x1024", "steps": 30, "count": 1, "strength": 0.75}


def room_config(settings: Settings) -> RoomConfig:
    rate = settings.room_messages_per_second
    return RoomConfig(
        allowed_origins=frozenset(settings.allowed_origins),
        # Every socket goes through HubRoomsExtension.on_authenticate, which refuses or sets the
        # role; a visitor it lets in unauthenticated (anonymous view) may only watch.
        require_authentication=False,
        default_role=Role.VIEWER,
        max_message_bytes=settings.room_max_message_bytes,
        messages_per_second=rate,
        message_burst=max(1, int(rate * 2)),
        max_members=settings.room_max_members,
        flush_interval=settings.room_store_flush_ms / 1000,
        # Edits from another process are stored here too if it has not confirmed storing them
        # by then (it died): well above its flush interval, so healthy processes never do.
        peer_store_timeout=max(2.0, 8 * settings.room_store_flush_ms / 1000),
        default_params=DEFAULT_PARAMS,
        channel_prefix=settings.room_channel_prefix,
    )


@dataclass
class RoomsComponent:
    ctx: HubContext
    server: RoomServer
    store: SqlStore
    presence: Presence
    endpoints: RoomEndpoints
    _control: Subscription | None = None
    _retention: asyncio.Task[None] | None = None
    _owned_presence: RedisPresence | None = None

    @property
    def control_channel(self) -> str:
        return f"{self.ctx.settings.redis_key_prefix}collab:control"

    async def start(self) -> None:
        await self.server.start()
        self.ctx.bus.on_reconnect(self._recheck_credentials)
        self._control = await self.ctx.bus.subscribe(self.control_channel, self._on_control)
        self._retention = asyncio.create_task(self._retention_loop(), name="rooms-retention")

    async def stop(self) -> None:
        if self._retention is not None:
            self._retention.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retention
        if self._control is not None:
            with contextlib.suppress(Exception):
                await self._control.unsubscribe()
        # Closes every socket (1001) and flushes and compacts every loaded room into the store.
        await self.server.stop()
        if self._owned_presence is not None:
            await self._owned_presence.close()

    # --- live actions (services call these after their transaction committed) ---------------

    async def kick_user(self, slug: str, user_id: int, reason: str = "removed") -> None:
        await self.server.kick(slug, user_id=str(user_id), reason=reason)

    async def set_role(self, slug: str, user_id: int, role: Role) -> None:
        await self.server.set_role(slug, str(user_id), role)
        # Tells open pages (their sockets' role changed in place; the page adapts its controls).
        await self.server.emit_event(
            slug, "member.role", {"user_id": user_id, "role": role.value}, persist=False
        )

    async def close_room(self, slug: str, reason: str = "room closed") -> None:
        await self.server.close_room(slug, reason)

    async def close_credentials(self, keys: Sequence[str], reason: str) -> None:
        """Accounts ended these credentials (``hub.accounts.credentials``): close their sockets
        with 4401 on every process, before the request that ended them answers."""
        await self.server.close_matching(keys, close_codes.UNAUTHENTICATED, reason)

    async def recheck(self, slug: str) -> None:
        """Access to the room was narrowed (private, no anonymous view): every process drops the
        sockets that would no longer be admitted and corrects roles."""
        payload = json.dumps({"action": "recheck", "slug": slug}).encode()
        try:
            await self.ctx.bus.publish(self.control_channel, payload)
        except Exception:
            log.warning("collab control publish failed", extra={"room": slug}, exc_info=True)
        await self._recheck_local(slug)

    async def online(self, slug: str) -> list[dict[str, Any]] | None:
        """Everyone on the room's document socket across processes; None if unknown."""
        try:
            return await self.presence.members(slug)
        except (PresenceUnavailable, ValueError):
            log.warning("presence unavailable", extra={"room": slug}, exc_info=True)
            return None

    async def live_counts(self) -> dict[str, int]:
        try:
            return await self.presence.rooms_live()
        except PresenceUnavailable:
            log.warning("presence unavailable", exc_info=True)
            return {}

    async def read_document(self, session: AsyncSession, slug: str) -> tuple[dict[str, Any], str]:
        """The room's document: from memory when loaded here, else from the store (which lags
        live edits on other processes by at most the flush interval), read on the session's
        connection: the caller holds it, and must not wait for another one."""
        if self.server.is_loaded(slug):
            # No await between the check and direct(): the room cannot unload in between, so
            # direct() never loads it (which would take a connection of its own).
            async with self.server.direct(slug) as live_doc:
                return read_document(live_doc), "live"
        stored = await self.store.load(slug, conn=await session.connection())
        doc: Doc[Any] = new_document()
        for update in stored.all_updates:
            try:
                doc.apply_update(update)
            except ValueError:
                log.error("skipping a stored update that cannot be applied", extra={"room": slug})
        return read_document(doc), "store"

    async def emit(
        self, slug: str, event_type: str, data: Mapping[str, Any], *, persist: bool = True
    ) -> Event:
        return await self.server.emit_event(slug, event_type, data, persist=persist)

    # --- internals --------------------------------------------------------------------------

    async def _on_control(self, message: BusMessage) -> None:
        try:
            data = json.loads(message.payload)
            slug = data["slug"]
            if data.get("action") != "recheck" or not is_valid_room_id(slug):
                raise ValueError("unknown control message")
        except (ValueError, KeyError, TypeError):
            log.warning("dropping malformed collab control message")
            return
        await self._recheck_local(slug)

    async def _recheck_credentials(self) -> None:
        """After a bus outage: a close of ended credentials published meanwhile never arrived
        here, so check the credentials of every socket of this process again."""
        held = {
            key
            for slug in self.server.loaded_rooms()
            for conn in self.server.local_connections(slug)
            for key in conn.credentials
        }
        if not held:
            return
        try:
            async with self.ctx.db.unit_of_work() as session:
                ended = await credentials.ended_credentials(session, held)
        except Exception:
            log.exception("credential recheck after a bus reconnect failed")
            return
        if ended:
            await self.server.close_matching(
                sorted(ended), close_codes.UNAUTHENTICATED, credentials.SIGNED_OUT
            )

    async def _recheck_local(self, slug: str) -> None:
        connections = self.server.local_connections(slug)
        if not connections:
            return
        async with self.ctx.db.unit_of_work() as session:
            verdicts = await recheck_sockets(session, slug, [actor_user_id(c) for c in connections])
        for conn, role in zip(connections, verdicts, strict=True):
            if role is None:
                await self.server.kick(
                    slug, connection_id=conn.connection_id, reason="access changed"
                )
            elif conn.role is not role:
                conn.role = role

    async def _retention_loop(self) -> None:
        settings = self.ctx.settings
        chat_age = (
            timedelta(days=settings.room_chat_retention_days)
            if settings.room_chat_retention_days
            else None
        )
        while True:
            await asyncio.sleep(settings.room_retention_interval)
            try:
                await self.store.trim_events(
                    window=settings.room_event_window, chat_max_age=chat_age
                )
            except Exception:
                log.exception("room event retention failed")


def build_rooms(ctx: HubContext) -> RoomsComponent:
    settings = ctx.settings
    store = SqlStore(ctx.db)
    owned: RedisPresence | None = None
    presence: Presence
    if settings.redis_url:
        owned = RedisPresence(settings.redis_url, key_prefix=settings.redis_key_prefix)
        presence = owned
    else:
        presence = MemoryPresence()
    server = RoomServer(
        ctx.bus,
        store,
        presence,
        extensions=[HubRoomsExtension(ctx)],
        config=room_config(settings),
    )
    component = RoomsComponent(
        ctx=ctx,
        server=server,
        store=store,
        presence=presence,
        endpoints=RoomEndpoints(server),
        _owned_presence=owned,
    )
    return component


async def start_rooms(ctx: HubContext) -> RoomsComponent:
    component = build_rooms(ctx)
    await component.start()
    return component


async def start_room_publisher(db: Database, bus: Bus, settings: Settings) -> RoomServer:
    """A RoomServer for a process without sockets: it publishes room events only (seq from the
    store, delivery over the bus to the web processes). Stop it with ``await server.stop()``."""
    server = RoomServer(bus, SqlStore(db), config=room_config(settings))
    try:
        await server.start()
    except BaseException:
        await server.stop()
        raise
    return server


def get_rooms(ctx: HubContext) -> RoomsComponent:
    if ctx.rooms is None:
        raise Unavailable("Rooms are not running in this process.")
    return ctx.rooms


async def emit_room_event(
    ctx: HubContext,
    slug: str,
    type: str,  # noqa: A002 - the documented signature
    data: Mapping[str, Any],
    persist: bool = True,
) -> Event:
    """Append an event to a room's stream and deliver it to every event socket of the room on
    every process (``job.progress``, ``job.done``, ``system.notice``, ...). ``persist=False``
    events get a seq but are not replayed to reconnecting clients (use it for frequent progress
    ticks). Raises ``ValueError`` for a bad slug, type or non-JSON data."""
    return await get_rooms(ctx).emit(slug, type, data, persist=persist)
