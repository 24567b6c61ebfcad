"""Tunables of the realtime core. The hub builds one from its Settings; tests shrink the timers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rooms.types import Role


@dataclass(frozen=True, slots=True)
class RoomConfig:
    # Handshake. None: no Origin check (non-browser deployments); otherwise a browser Origin
    # header must be in the set or the handshake is refused (HTTP 403). A missing Origin header
    # (non-browser client) is allowed: authentication still applies.
    allowed_origins: frozenset[str] | None = None
    # No extension authenticated the socket: refuse with 4401 (True) or admit it as an anonymous
    # member with ``default_role`` (False, the standalone default).
    require_authentication: bool = False
    default_role: Role = Role.EDITOR

    # Limits.
    max_message_bytes: int = 262_144  # 1009 above
    messages_per_second: float = 60.0  # sustained, per socket; 4529 above (awareness echoes free)
    message_burst: int = 120  # token bucket size
    max_members: int = 50  # y-websocket sockets per room, all processes (4413)
    outbound_queue: int = 256  # frames waiting for one socket; 4508 when it overflows
    max_chat_chars: int = 2000
    # Sockets between accept and joined (authentication, member count, room load: database and
    # presence round trips) at once. A burst beyond it waits up to ``admission_timeout`` seconds,
    # then gets 1013 "try again later" (stock clients retry) instead of exhausting the DB pool.
    max_concurrent_admissions: int = 64
    admission_timeout: float = 5.0

    # Persistence.
    flush_interval: float = 0.25  # how far (s) stored updates may lag behind edits
    compact_every: int = 200  # stored updates after the last snapshot before compaction
    unload_delay: float = 2.0  # keep an empty room this long (fast reconnects stay warm)
    # An edit received from another process is kept until that process says it stored it; if
    # it has not said so this long after (it died, or the bus lost its word), store it here too.
    # Duplicates are harmless (CRDT) and compaction folds them. Keep it well above
    # ``flush_interval`` plus a store round trip, or healthy processes store each other's edits.
    peer_store_timeout: float = 2.0

    # Liveness.
    # Silence before a keepalive (y-websocket) or a ``pong`` heartbeat (event stream): stock
    # clients reconnect after 30 s without a message, proxies cut idle sockets after ~60 s.
    keepalive_interval: float = 15.0
    awareness_timeout: float = 30.0  # awareness states not renewed this long are dropped
    presence_ttl: float = 60.0  # renewed every ttl/3 while the socket lives
    reconcile_interval: float | None = 300.0  # periodic state-vector check against the store
    close_timeout: float = 5.0  # give up on a close frame a stuck client will not read

    # Event stream.
    replay_limit: int = 500  # events replayed on ``?since=``; a bigger gap gets ``resync``
    # A stored event arrived before one it follows (``Event.prev``): hold it this long for the
    # missing one to come over the bus (processes race), then fill the gap from the store.
    event_gap_wait: float = 0.2

    # ``params`` keys set when a room is created (empty store), e.g. {"steps": 30}.
    default_params: Mapping[str, Any] = field(default_factory=dict)

    # Bus channels: ``{prefix}{room_id}`` (doc) and ``{prefix}{room_id}:events``; RedisBus adds
    # its own key prefix, so on Redis they read ``hub:room:{room_id}`` (ADR 0003).
    channel_prefix: str = "room:"

    def __post_init__(self) -> None:
        positive = {
            "max_message_bytes": self.max_message_bytes,
            "messages_per_second": self.messages_per_second,
            "message_burst": self.message_burst,
            "max_members": self.max_members,
            "outbound_queue": self.outbound_queue,
            "max_chat_chars": self.max_chat_chars,
            "max_concurrent_admissions": self.max_concurrent_admissions,
            "admission_timeout": self.admission_timeout,
            "flush_interval": self.flush_interval,
            "compact_every": self.compact_every,
            "keepalive_interval": self.keepalive_interval,
            "awareness_timeout": self.awareness_timeout,
            "presence_ttl": self.presence_ttl,
            "close_timeout": self.close_timeout,
            "replay_limit": self.replay_limit,
            "peer_store_timeout": self.peer_store_timeout,
            "event_gap_wait": self.event_gap_wait,
        }
        for name, value in positive.items():
            if value <= 0:
                raise ValueError(f"RoomConfig.{name} must be positive, got {value!r}")
        if self.unload_delay < 0:
            raise ValueError("RoomConfig.unload_delay must not be negative")
        if self.reconcile_interval is not None and self.reconcile_interval <= 0:
            raise ValueError("RoomConfig.reconcile_interval must be positive or None")
