"""The periodic work of the live rooms: keepalives, awareness expiry, presence renewal, and
reconciliation with the store. One task per process, one tick for every room."""

from __future__ import annotations

import asyncio
import logging
import time

from rooms.bridge import Bridge
from rooms.hooks import AwarenessPayload
from rooms.protocol import KEEPALIVE, PONG
from rooms.room import Room, RoomState
from rooms.runtime import Runtime
from rooms.types import Origin

log = logging.getLogger(__name__)


class Maintenance:
    def __init__(self, runtime: Runtime, bridge: Bridge) -> None:
        self._rt = runtime
        self._bridge = bridge

    async def run(self) -> None:
        """Forever (``RoomServer.stop`` cancels it): one pass over every ready room per tick."""
        cfg = self._rt.config
        tick = max(0.02, min(cfg.keepalive_interval, cfg.awareness_timeout, cfg.presence_ttl) / 3)
        while True:
            await asyncio.sleep(tick)
            for room in list(self._rt.rooms.values()):
                if room.state is not RoomState.READY:
                    continue
                try:
                    await self.tend(room, time.monotonic())
                except Exception:
                    log.exception("room maintenance failed", extra={"room": room.room_id})

    async def tend(self, room: Room, now: float) -> None:
        cfg = self._rt.config
        for conn in tuple(room.yjs):
            if now - conn.last_send >= cfg.keepalive_interval:
                conn.send(KEEPALIVE)
        # Event sockets too: proxies cut idle connections (60 s is typical) and browsers cannot
        # see WebSocket pings, so the page needs traffic to tell a live socket from a dead one.
        for conn in tuple(room.events):
            if now - conn.last_send >= cfg.keepalive_interval and not conn.replaying:
                conn.send(PONG)
        expired = room.awareness.expire(now, cfg.awareness_timeout)
        hooks = self._rt.hooks
        if expired and hooks.has("on_awareness_update"):
            await hooks.notify(
                "on_awareness_update",
                AwarenessPayload(room.room_id, None, Origin.LOCAL, (), (), tuple(expired)),
            )
        if now - room.presence_renewed >= cfg.presence_ttl / 3:
            room.presence_renewed = now
            await self._renew_presence(room)
        if (
            cfg.reconcile_interval is not None
            and now - room.last_reconcile >= cfg.reconcile_interval
        ):
            room.last_reconcile = now
            await self._bridge.reconcile(room)

    async def _renew_presence(self, room: Room) -> None:
        ttl = self._rt.config.presence_ttl
        try:
            for conn in tuple(room.yjs):
                ctx = conn.context
                await self._rt.presence.join(
                    room.room_id, ctx.connection_id, ctx.member_info(), ttl
                )
        except Exception:
            # The next renewal repairs it; the rest of the maintenance must still run.
            log.warning("presence renewal failed", extra={"room": room.room_id}, exc_info=True)
