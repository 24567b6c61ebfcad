"""Extension points of the realtime core (the Hocuspocus model).

An extension subclasses :class:`Extension` and overrides the async hooks it needs; every hook
takes one frozen payload dataclass. The runner calls extensions in ``priority`` order (higher
first; equal priorities keep registration order). In a *gate* hook (``on_connect``,
``on_authenticate``, ``on_load_document``, ``before_handle_message``, ``on_room_event``) raising
:class:`Reject` refuses the connection, message or event with ``close_code``; raising
:class:`SkipFurtherHooks` ends the chain for that call without refusing. In *notification* hooks
(everything else) exceptions are logged and the chain goes on: a faulty observer must not break a
room. docs/hooks.md documents each hook, when it runs and what it may do.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from pycrdt import Doc

from rooms import close_codes
from rooms.protocol import Message
from rooms.types import ConnectionContext, Origin

if TYPE_CHECKING:
    from rooms.config import RoomConfig

log = logging.getLogger(__name__)


class Reject(Exception):
    """Refuse the connection / message / event; the socket is closed with ``close_code``."""

    def __init__(self, close_code: int = close_codes.FORBIDDEN, reason: str = "") -> None:
        super().__init__(reason or close_codes.describe(close_code))
        self.close_code = close_code
        self.reason = reason or close_codes.describe(close_code)


class SkipFurtherHooks(Exception):
    """Stop calling the remaining extensions for this hook invocation."""


# --- payloads ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConfigurePayload:
    server: Any  # rooms.server.RoomServer (Any: payloads must not import the server module)
    config: RoomConfig


@dataclass(frozen=True, slots=True)
class ConnectPayload:
    room_id: str
    connection: ConnectionContext


@dataclass(frozen=True, slots=True)
class AuthenticatePayload:
    """Fill in ``connection`` with ``connection.authenticate(user_id=..., display_name=...,
    role=...)``; raise ``Reject(close_codes.UNAUTHENTICATED)`` to refuse."""

    room_id: str
    connection: ConnectionContext
    token: str | None


@dataclass(frozen=True, slots=True)
class LoadDocumentPayload:
    """``doc`` already holds what the store had; edits made here count as server-side (LOCAL)
    edits: they are stored and published, so make them idempotent (e.g. Map defaults)."""

    room_id: str
    doc: Doc[Any]
    is_new: bool  # the store had nothing for this room


@dataclass(frozen=True, slots=True)
class MessagePayload:
    """A decoded client message before the room acts on it. ``message`` is a
    :data:`rooms.protocol.Message` on y-websocket sockets and a ``ClientEvent`` on event sockets."""

    room_id: str
    connection: ConnectionContext
    message: Message | Any


@dataclass(frozen=True, slots=True)
class ChangePayload:
    """A document change that has been applied (only what was new: the effective delta)."""

    room_id: str
    doc: Doc[Any]
    update: bytes
    origin: Origin
    connection: ConnectionContext | None


@dataclass(frozen=True, slots=True)
class StoreDocumentPayload:
    room_id: str
    updates: tuple[bytes, ...]
    authors: frozenset[str]


@dataclass(frozen=True, slots=True)
class AwarenessPayload:
    room_id: str
    connection: ConnectionContext | None  # None when it came from another process
    origin: Origin
    added: tuple[int, ...]
    updated: tuple[int, ...]
    removed: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class RoomEventPayload:
    """An event about to be appended and broadcast. ``connection`` is set when a client sent it
    (``chat.send``); ``Reject`` refuses the event (and closes that client with the code)."""

    room_id: str
    type: str
    data: dict[str, Any]
    persist: bool
    connection: ConnectionContext | None


@dataclass(frozen=True, slots=True)
class DisconnectPayload:
    room_id: str
    connection: ConnectionContext
    close_code: int


@dataclass(frozen=True, slots=True)
class UnloadPayload:
    room_id: str
    doc: Doc[Any]


@dataclass(frozen=True, slots=True)
class AfterUnloadPayload:
    room_id: str


@dataclass(frozen=True, slots=True)
class DestroyPayload:
    server: Any


# --- the base class ---------------------------------------------------------------------------


class Extension:
    """Base class: every hook is a no-op; override the ones you need."""

    priority: int = 100  # higher runs first; a class or instance attribute

    async def on_configure(self, payload: ConfigurePayload) -> None:
        """Server start, before any socket is served."""

    async def on_connect(self, payload: ConnectPayload) -> None:
        """A socket was accepted (Origin already checked). Gate: Reject closes it."""

    async def on_authenticate(self, payload: AuthenticatePayload) -> None:
        """Identify the socket and set its role. Gate: Reject closes it (use 4401/4403)."""

    async def on_load_document(self, payload: LoadDocumentPayload) -> None:
        """A room is being loaded into this process. Gate: Reject fails the load."""

    async def after_load_document(self, payload: LoadDocumentPayload) -> None:
        """The room is live in this process."""

    async def before_handle_message(self, payload: MessagePayload) -> None:
        """Every decoded client message. Gate: Reject closes the sender only."""

    async def on_change(self, payload: ChangePayload) -> None:
        """After a document change was applied (any origin)."""

    async def on_store_document(self, payload: StoreDocumentPayload) -> None:
        """Before a batch of updates is appended to the store."""

    async def after_store_document(self, payload: StoreDocumentPayload) -> None:
        """After a batch of updates was appended to the store."""

    async def on_awareness_update(self, payload: AwarenessPayload) -> None:
        """After awareness states were added, updated or removed."""

    async def on_room_event(self, payload: RoomEventPayload) -> None:
        """Before an event gets its seq and is broadcast. Gate: Reject refuses the event."""

    async def on_disconnect(self, payload: DisconnectPayload) -> None:
        """A socket left (for any reason; ``close_code`` says which)."""

    async def before_unload_document(self, payload: UnloadPayload) -> None:
        """The last socket left; the room is about to be flushed and unloaded."""

    async def after_unload_document(self, payload: AfterUnloadPayload) -> None:
        """The room is gone from this process."""

    async def on_destroy(self, payload: DestroyPayload) -> None:
        """Server stop, after every room was unloaded."""


HOOK_NAMES: Final = (
    "on_configure",
    "on_connect",
    "on_authenticate",
    "on_load_document",
    "after_load_document",
    "before_handle_message",
    "on_change",
    "on_store_document",
    "after_store_document",
    "on_awareness_update",
    "on_room_event",
    "on_disconnect",
    "before_unload_document",
    "after_unload_document",
    "on_destroy",
)

Hook = Callable[[Any], Awaitable[None]]


class HookRunner:
    """Calls the extensions' hooks in priority order.

    Only extensions that override a hook are called for it, so a hook nobody implements costs a
    dict lookup on the hot path (``on_change`` runs for every update).
    """

    def __init__(self, extensions: Sequence[Extension]) -> None:
        ordered = sorted(extensions, key=lambda ext: -ext.priority)  # sorted() is stable
        self.extensions: tuple[Extension, ...] = tuple(ordered)
        self._chains: dict[str, tuple[Hook, ...]] = {}
        for name in HOOK_NAMES:
            base = getattr(Extension, name)
            chain = tuple(
                getattr(ext, name) for ext in ordered if getattr(type(ext), name, base) is not base
            )
            self._chains[name] = chain

    def has(self, name: str) -> bool:
        return bool(self._chains[name])

    async def run(self, name: str, payload: Any) -> None:
        """Gate hook: :class:`Reject` and any other error propagate to the caller."""
        for hook in self._chains[name]:
            try:
                await hook(payload)
            except SkipFurtherHooks:
                return

    async def notify(self, name: str, payload: Any) -> None:
        """Notification hook: errors are logged and the remaining extensions still run."""
        for hook in self._chains[name]:
            try:
                await hook(payload)
            except SkipFurtherHooks:
                return
            except Exception:
                log.exception("extension hook failed", extra={"hook": name})
