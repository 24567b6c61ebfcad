"""One live room in one process: the document, awareness, local sockets, store batching.

The room knows nothing of the bus or hooks policy; :class:`rooms.server.RoomServer` drives it.
Everything here runs on the event loop thread: ``apply`` is synchronous, so an update is applied
and fanned out without any other coroutine seeing a half-done state.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pycrdt import Doc, Map, Text, TransactionEvent, merge_updates

from rooms.awareness import AwarenessRegistry
from rooms.config import RoomConfig
from rooms.connection import Connection
from rooms.hooks import HookRunner, StoreDocumentPayload
from rooms.protocol import EMPTY_UPDATE, encode_awareness, encode_awareness_entries
from rooms.store import DocumentStore, UpdateRecord
from rooms.types import Event

log = logging.getLogger(__name__)

PROMPT = "prompt"
NEGATIVE = "negative"
PARAMS = "params"
PARAM_KEYS = ("model", "size", "steps", "seed", "strength", "count")


def new_document() -> Doc[Any]:
    """The shape every room document has (clients use the same root names)."""
    doc: Doc[Any] = Doc()
    doc[PROMPT] = Text()
    doc[NEGATIVE] = Text()
    doc[PARAMS] = Map()
    return doc


def insert_text(text: Text, index: int, value: str) -> None:
    """Insert ``value`` at *character* ``index``.

    pycrdt 0.14 indexes ``Text`` in UTF-8 bytes (``len(Text("你好")) == 6``), and inserting at a
    byte offset inside a character yields a corrupt update (a right origin that does not exist,
    which every peer keeps pending forever). Always go through these helpers for non-ASCII text.
    """
    current = str(text)
    if not 0 <= index <= len(current):
        raise IndexError(f"index {index} outside 0..{len(current)}")
    text.insert(len(current[:index].encode("utf-8")), value)


def delete_text(text: Text, index: int, length: int) -> None:
    """Delete ``length`` characters from *character* ``index`` (see :func:`insert_text`)."""
    current = str(text)
    if index < 0 or length < 0 or index + length > len(current):
        raise IndexError(f"range {index}+{length} outside 0..{len(current)}")
    start = len(current[:index].encode("utf-8"))
    stop = len(current[: index + length].encode("utf-8"))
    if stop > start:
        del text[start:stop]


def read_document(doc: Doc[Any]) -> dict[str, Any]:
    """Plain-Python view of a room document (what generation needs)."""
    params = doc.get(PARAMS, type=Map).to_py() or {}
    return {
        PROMPT: str(doc.get(PROMPT, type=Text)),
        NEGATIVE: str(doc.get(NEGATIVE, type=Text)),
        PARAMS: dict(params),
    }


class RoomState(enum.Enum):
    LOADING = "loading"
    READY = "ready"
    UNLOADING = "unloading"
    UNLOADED = "unloaded"


class Room:
    def __init__(
        self,
        room_id: str,
        *,
        config: RoomConfig,
        store: DocumentStore,
        hooks: HookRunner,
        instance_id: str,
        on_local_change: Callable[[Room], None],
    ) -> None:
        self.room_id = room_id
        self.config = config
        self.doc = new_document()
        self.awareness = AwarenessRegistry()
        # dicts keep join order (fan-out order is then deterministic) and allow O(1) removal.
        self.yjs: dict[Connection, None] = {}
        self.events: dict[Connection, None] = {}
        self.state = RoomState.LOADING
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.unloaded = asyncio.Event()
        self.refs = 0
        self.unload_handle: asyncio.TimerHandle | None = None
        self.subscriptions: list[Any] = []
        self.bus_buffer: list[Any] | None = []  # bus messages that arrive while loading
        self.last_event_seq = 0
        self._recent_seqs: deque[int] = deque()
        self._recent_set: set[int] = set()
        self.last_reconcile = time.monotonic()
        self.presence_renewed = time.monotonic()

        self._store = store
        self._hooks = hooks
        self._on_local_change = on_local_change
        self._sink: list[bytes] | None = None
        self._local: list[bytes] = []
        self.doc.observe(self._on_transaction)

        # Store batching. ``writer`` is unique per loaded room instance, so (writer, batch) never
        # repeats even when this process unloads and reloads the room.
        self.writer = f"{instance_id}:{uuid.uuid4().hex[:12]}"
        self._batch = 0
        self._pending: list[UpdateRecord] = []
        self._retry: tuple[int, list[UpdateRecord]] | None = None
        self._flush_handle: asyncio.TimerHandle | None = None
        self._flush_lock = asyncio.Lock()
        self._flush_failures = 0
        self.uncompacted = 0
        self.flush_tasks: set[asyncio.Task[Any]] = set()

    # --- document ---------------------------------------------------------------------------

    def _on_transaction(self, event: TransactionEvent) -> None:
        # pycrdt emits no event for a transaction that changed nothing.
        update: bytes = event.update
        if self._sink is not None:
            self._sink.append(update)
        else:
            # A server-side edit (``direct()`` or an extension): propagate it soon.
            self._local.append(update)
            self._on_local_change(self)

    def apply(self, update: bytes) -> bytes | None:
        """Apply ``update``; returns what was new (the effective delta) or None.

        Raises ``ValueError`` when the update cannot be decoded; the document is then untouched
        (yrs decodes the whole update before integrating any of it)."""
        if update == EMPTY_UPDATE:
            return None
        sink: list[bytes] = []
        self._sink = sink
        try:
            self.doc.apply_update(update)
        finally:
            self._sink = None
        if not sink:
            return None
        return sink[0] if len(sink) == 1 else merge_updates(*sink)

    def take_local_changes(self) -> bytes | None:
        if not self._local:
            return None
        local, self._local = self._local, []
        return local[0] if len(local) == 1 else merge_updates(*local)

    # --- sockets ----------------------------------------------------------------------------

    @property
    def connections(self) -> list[Connection]:
        return [*self.yjs, *self.events]

    def remove(self, conn: Connection) -> None:
        self.yjs.pop(conn, None)
        self.events.pop(conn, None)

    def broadcast(
        self, frame: bytes, exclude: Connection | None = None, *, echoed: bool = False
    ) -> None:
        """Queue one encoded frame on every local y-websocket socket (no task per recipient).
        ``echoed``: an awareness frame stock clients send back (credit their rate limit)."""
        for conn in tuple(self.yjs):
            if conn is not exclude and conn.send(frame) and echoed:
                conn.grant_echo(frame)

    def awareness_frame(self) -> bytes | None:
        entries = self.awareness.entries()
        if not entries:
            return None
        return encode_awareness(encode_awareness_entries(entries))

    # --- events -----------------------------------------------------------------------------

    def deliver_event(self, event: Event) -> bool:
        """Send ``event`` to the local event sockets once (the bus and a replay may both bring
        it). Returns False for a duplicate."""
        if event.seq in self._recent_set:
            return False
        self._recent_seqs.append(event.seq)
        self._recent_set.add(event.seq)
        if len(self._recent_seqs) > 4096:
            self._recent_set.discard(self._recent_seqs.popleft())
        self.last_event_seq = max(self.last_event_seq, event.seq)
        text = event.to_json()
        for conn in tuple(self.events):
            if conn.replaying:
                conn.held.append(event)
            else:
                conn.send(text)
        return True

    # --- persistence ------------------------------------------------------------------------

    def record(self, update: bytes, author_id: str | None) -> None:
        """Queue an update for the store; written at most ``flush_interval`` later."""
        self._pending.append(UpdateRecord(update, author_id))
        self._schedule_flush(self.config.flush_interval)

    def _schedule_flush(self, delay: float) -> None:
        if self._flush_handle is None:
            loop = asyncio.get_running_loop()
            self._flush_handle = loop.call_later(delay, self._start_flush)

    def _start_flush(self) -> None:
        self._flush_handle = None
        task = asyncio.create_task(self.flush(), name=f"room-flush-{self.room_id}")
        self.flush_tasks.add(task)
        task.add_done_callback(self.flush_tasks.discard)

    async def flush(self) -> bool:
        """Write pending updates. Returns False if the store failed (they are retried later
        with the same idempotency key, so a write that did land is not stored twice)."""
        async with self._flush_lock:
            if self._flush_handle is not None:
                self._flush_handle.cancel()
                self._flush_handle = None
            while self._retry is not None or self._pending:
                if self._retry is None:
                    self._retry = (self._batch, self._pending)
                    self._batch += 1
                    self._pending = []
                batch, records = self._retry
                payload = StoreDocumentPayload(
                    room_id=self.room_id,
                    updates=tuple(r.data for r in records),
                    authors=frozenset(r.author_id for r in records if r.author_id is not None),
                )
                await self._hooks.notify("on_store_document", payload)
                try:
                    await self._store.append_updates(
                        self.room_id, records, writer=self.writer, batch=batch
                    )
                except Exception:
                    self._flush_failures += 1
                    log.exception("storing room updates failed", extra={"room": self.room_id})
                    self._schedule_flush(
                        min(30.0, self.config.flush_interval * 2**self._flush_failures)
                    )
                    return False
                self._retry = None
                self._flush_failures = 0
                self.uncompacted += len(records)
                await self._hooks.notify("after_store_document", payload)
        if self.uncompacted >= self.config.compact_every:
            await self.compact()
        return True

    async def compact(self) -> None:
        """Fold the stored updates into one snapshot. Computed from what the *store* holds (never
        from this process' memory), so nothing another process stored can be lost."""
        try:
            base = await self._store.load(self.room_id)
            if not base.updates:
                self.uncompacted = 0
                return
            state = merge_updates(*base.all_updates)
            await self._store.compact(self.room_id, state, base=base)
            self.uncompacted = 0
        except Exception:
            log.exception("compacting room failed", extra={"room": self.room_id})

    def cancel_timers(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if self.unload_handle is not None:
            self.unload_handle.cancel()
            self.unload_handle = None

    async def wait_flush_tasks(self) -> None:
        for task in list(self.flush_tasks):
            with contextlib.suppress(Exception):
                await task


def iter_matching(
    conns: Iterable[Connection], *, user_id: str | None, connection_id: str | None
) -> list[Connection]:
    return [
        conn
        for conn in conns
        if (user_id is not None and conn.context.user_id == user_id)
        or (connection_id is not None and conn.connection_id == connection_id)
    ]


def params_defaults(doc: Doc[Any], defaults: Mapping[str, Any]) -> None:
    """Set ``params`` defaults on a new room (a server-side edit, stored and published)."""
    params = doc.get(PARAMS, type=Map)
    with doc.transaction():
        for key, value in defaults.items():
            params[key] = value
