"""The realtime core: collaborative rooms over y-websocket, importable without ``hub``.

Public entry points (docs/rooms.md): :class:`RoomServer`, :class:`RoomConfig`,
:class:`rooms.hooks.Extension`, :class:`rooms.store.DocumentStore` / :class:`MemoryStore`,
:class:`rooms.asgi.RoomEndpoints` and the bus in :mod:`rooms.bus`.
"""

from rooms.config import RoomConfig
from rooms.hooks import Extension, Reject, SkipFurtherHooks
from rooms.server import RoomServer
from rooms.store import DocumentStore, MemoryStore
from rooms.types import ConnectionContext, ConnectionKind, Event, Origin, RequestInfo, Role

__all__ = [
    "ConnectionContext",
    "ConnectionKind",
    "DocumentStore",
    "Event",
    "Extension",
    "MemoryStore",
    "Origin",
    "Reject",
    "RequestInfo",
    "Role",
    "RoomConfig",
    "RoomServer",
    "SkipFurtherHooks",
]
