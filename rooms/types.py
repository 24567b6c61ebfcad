"""Small value types shared by every module of the realtime core."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

# Room ids travel in URLs and bus channel names: keep them to a conservative alphabet.
ROOM_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def is_valid_room_id(room_id: str) -> bool:
    return bool(ROOM_ID_RE.fullmatch(room_id))


def utcnow() -> datetime:
    return datetime.now(UTC)


class Origin(StrEnum):
    """Where a document change came from; decides whether it is published and stored."""

    CONNECTION = "connection"  # a client socket on this process: fan out, publish, store
    # another process: fan out locally only; its origin process stores it, this one too if that
    # one does not confirm storing it within ``peer_store_timeout`` (it died)
    BUS = "bus"
    LOCAL = "local"  # server-side edit (``server.direct``): fan out, publish, store
    STORE = "store"  # read back from the store (load / reconcile): fan out locally only


class Role(StrEnum):
    VIEWER = "viewer"
    EDITOR = "editor"
    OWNER = "owner"

    @property
    def can_edit(self) -> bool:
        return self is not Role.VIEWER


class ConnectionKind(StrEnum):
    YJS = "yjs"  # binary y-websocket socket
    EVENTS = "events"  # JSON event-stream socket


@dataclass(frozen=True, slots=True)
class RequestInfo:
    """What the handshake told us; extensions authenticate from it (cookies, token, headers)."""

    path: str = "/"
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names
    query: Mapping[str, str] = field(default_factory=dict)
    cookies: Mapping[str, str] = field(default_factory=dict)
    client: tuple[str, int] | None = None

    @property
    def origin(self) -> str | None:
        return self.headers.get("origin")

    @property
    def token(self) -> str | None:
        """``?token=`` (stock y-websocket clients pass params in the query) or a bearer header."""
        token = self.query.get("token")
        if token:
            return token
        auth = self.headers.get("authorization", "")
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        return None


@dataclass(slots=True, eq=False)
class ConnectionContext:
    """One socket's identity. Mutable on purpose: ``on_authenticate`` fills in who it is, and a
    cross-process role change updates ``role`` while the socket stays open."""

    connection_id: str
    room_id: str
    kind: ConnectionKind
    request: RequestInfo = field(default_factory=RequestInfo)
    user_id: str | None = None
    display_name: str | None = None
    role: Role = Role.EDITOR
    authenticated: bool = False
    data: dict[str, Any] = field(default_factory=dict)  # free space for extensions
    # Opaque keys of what admitted this socket (say ``session:<id>``, ``user:<id>``), set by
    # ``on_authenticate``; ``RoomServer.close_matching`` closes the sockets holding a key.
    credentials: frozenset[str] = frozenset()

    def authenticate(
        self, *, user_id: str, display_name: str | None = None, role: Role | str | None = None
    ) -> None:
        """Record who this socket belongs to (call from ``on_authenticate``)."""
        self.user_id = user_id
        self.display_name = display_name if display_name is not None else user_id
        if role is not None:
            self.role = Role(role)
        self.authenticated = True

    @property
    def can_edit(self) -> bool:
        return self.role.can_edit

    def member_info(self) -> dict[str, Any]:
        """Public description of this member (presence lists and member.* events)."""
        return {
            "connection_id": self.connection_id,
            "user_id": self.user_id,
            "name": self.display_name,
            "role": self.role.value,
        }


@dataclass(frozen=True, slots=True)
class Event:
    """One message of a room's event stream. ``seq`` is assigned by the store, per room.

    ``prev`` (stored events only) is the seq of the room's stored event before this one (0: none):
    a process that has delivered everything up to ``prev`` may deliver this event; otherwise it
    has missed one and fills the gap from the store first. It travels on the bus, never to
    clients. ``None``: unknown (an unstored event, or a store that does not track it)."""

    room: str
    seq: int
    type: str
    data: Mapping[str, Any]
    ts: datetime
    persist: bool = True
    prev: int | None = None

    def envelope(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "seq": self.seq,
            "ts": self.ts.isoformat(),
            "room": self.room,
            "data": dict(self.data),
        }

    def to_json(self) -> str:
        return json.dumps(self.envelope(), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_envelope(cls, envelope: Mapping[str, Any], *, persist: bool = True) -> Event:
        """Inverse of :meth:`envelope`; raises ``ValueError``/``KeyError``/``TypeError`` on junk."""
        data = envelope["data"]
        seq = envelope["seq"]
        if not isinstance(data, dict) or not isinstance(seq, int) or isinstance(seq, bool):
            raise TypeError("event envelope has the wrong shape")
        ts = datetime.fromisoformat(str(envelope["ts"]))
        return cls(
            room=str(envelope["room"]),
            seq=seq,
            type=str(envelope["type"]),
            data=data,
            ts=ts,
            persist=persist,
        )


@runtime_checkable
class PresenceLike(Protocol):
    """Cross-process member lists (``rooms.presence`` provides the Redis and memory backends).
    ``member_key`` is unique per socket; entries vanish after ``ttl`` seconds unless renewed."""

    async def join(self, room: str, member_key: str, info: dict[str, Any], ttl: float) -> None: ...

    async def leave(self, room: str, member_key: str) -> None: ...

    async def members(self, room: str) -> list[dict[str, Any]]: ...

    async def count(self, room: str) -> int: ...
