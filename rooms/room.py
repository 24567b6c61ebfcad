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
from dataclasses import dataclass
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
MAX_UNCONFIRMED = 10_000  # edits from other processes awaiting their STORED, per room
MAX_HELD_EVENTS = 1_000  # stored events waiting for one they follow, per room


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


def replace_text(doc: Doc[Any], name: str, value: str) -> None:
    """Replace the whole text ``name`` of ``doc`` with ``value`` (see :func:`insert_text`)."""
    text = doc.get(name, type=Text)
    delete_text(text, 0, len(str(text)))
    insert_text(text, 0, value)


def read_document(doc: Doc[Any]) -> dict[str, Any]:
    """Plain-Python view of a room document (what generation needs)."""
    params = doc.get(PARAMS, type=Map).to_py() or {}
    return {
        PROMPT: str(doc.get(PROMPT, type=Text)),
        NEGATIVE: str(doc.get(NEGATIVE, type=Text)),
        PARAMS: dict(params),
    }


@dataclass(frozen=True, slots=True)
class Unconfirmed:
    """An edit another process applied and published, not yet confirmed stored by it."""

    record: int  # the writer's record number (STORED confirms up to one)
    deadline: float  # monotonic time after which this process stores it itself
    update: bytes  # what it changed here (the effective delta)
    author_id: str | None


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
        on_stored: Callable[[Room, int], None] | None = None,
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
        self._init_event_order()
        self.last_reconcile = time.monotonic()
        self.presence_renewed = time.monotonic()

        self._store = store
        self._hooks = hooks
        self._on_local_change = on_local_change
        self._sink: list[bytes] | None = None
        self._local: list[bytes] = []
        self.doc.observe(self._on_transaction)

        self._init_store_batching(instance_id, on_stored)

    def _init_event_order(self) -> None:
        # Every stored event with a seq up to ``event_floor`` was delivered to the event sockets
        # here (or is older than they are). Stored events above it wait in ``held_events`` until
        # the one they follow (``Event.prev``) is delivered or fetched from the store.
        self.event_floor = 0
        self.held_events: dict[int, Event] = {}
        self.fill_handle: asyncio.TimerHandle | None = None
        self.fill_lock = asyncio.Lock()
        self._recent_seqs: deque[int] = deque()  # unstored events, delivered once
        self._recent_set: set[int] = set()

    def _init_store_batching(
        self, instance_id: str, on_stored: Callable[[Room, int], None] | None
    ) -> None:
        # ``writer`` is unique per loaded room instance, so (writer, batch) never repeats even
        # when this process unloads and reloads the room. Records are numbered in order; after a
        # batch is stored ``on_stored(room, n)`` says "stored up to record n".
        self.writer = f"{instance_id}:{uuid.uuid4().hex[:12]}"
        self._batch = 0
        self._records = 0
        self._pending: list[tuple[int, UpdateRecord]] = []
        self._retry: tuple[int, list[tuple[int, UpdateRecord]]] | None = None
        self._on_stored = on_stored
        # Edits received from other processes that their writer has not confirmed stored yet.
        self.unconfirmed: dict[str, deque[Unconfirmed]] = {}
        self._unconfirmed_count = 0
        self._adopt_handle: asyncio.TimerHandle | None = None
        self.adopted = 0  # edits of other processes this room stored itself (metrics, tests)
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

    def deliver_event(self, event: Event) -> None:
        """Send ``event`` to the local event sockets once, stored events in seq order.

        An unstored event goes out at once (they are never replayed, and another process' may
        carry a lower seq). A stored one goes out when it follows ``event_floor``; else it is
        held (``held_events``) until the gap closes; the server fills gaps from the store."""
        if not event.persist:
            if event.seq in self._recent_set:
                return
            self._recent_seqs.append(event.seq)
            self._recent_set.add(event.seq)
            if len(self._recent_seqs) > 4096:
                self._recent_set.discard(self._recent_seqs.popleft())
            self._send_event(event)
            return
        if event.seq <= self.event_floor or event.seq in self.held_events:
            return  # delivered already (the bus and the store may both bring it)
        if event.prev is not None and event.prev > self.event_floor:
            self.held_events[event.seq] = event
            return
        self._send_event(event)
        self.event_floor = event.seq
        self._release_held()

    def _release_held(self) -> None:
        while self.held_events:
            seq = min(self.held_events)
            event = self.held_events[seq]
            if seq > self.event_floor and event.prev is not None and event.prev > self.event_floor:
                return  # still a gap below it
            del self.held_events[seq]
            if seq > self.event_floor:
                self._send_event(event)
                self.event_floor = seq

    def release_held_upto(self, seq: int) -> None:
        """Deliver the held events up to ``seq`` in order even though a gap precedes them."""
        for held in sorted(self.held_events):
            if held > seq:
                break
            event = self.held_events.pop(held)
            if held > self.event_floor:
                self._send_event(event)
                self.event_floor = held
        self._release_held()

    def skip_events(self, seq: int, message: str | None = None) -> None:
        """Everything stored up to ``seq`` counts as delivered: nobody here needs it (no event
        sockets), or it cannot be had (``message``, a ``resync``, goes to every event socket)."""
        if message is not None:
            for conn in tuple(self.events):
                conn.seen_seq = max(conn.seen_seq, seq)
                conn.send(message)
        self.event_floor = max(self.event_floor, seq)
        self._release_held()

    def _send_event(self, event: Event) -> None:
        text = event.to_json()
        for conn in tuple(self.events):
            if conn.replaying:
                conn.held.append(event)
            elif not event.persist:
                conn.send(text)
            elif event.seq > conn.seen_seq:
                conn.seen_seq = event.seq
                conn.send(text)

    # --- persistence ------------------------------------------------------------------------

    def record(self, update: bytes, author_id: str | None) -> int:
        """Queue an update for the store; written at most ``flush_interval`` later. Returns its
        record number (what a later ``on_stored`` confirms)."""
        self._records += 1
        self._pending.append((self._records, UpdateRecord(update, author_id)))
        self._schedule_flush(self.config.flush_interval)
        return self._records

    @property
    def has_unsaved(self) -> bool:
        return bool(self._pending or self._retry or self.unconfirmed)

    def hold_unconfirmed(
        self, writer: str, record: int, update: bytes, author_id: str | None
    ) -> None:
        """Keep an edit another process applied until its ``writer`` confirms it stored it
        (``confirm``); store it here if that does not happen within ``peer_store_timeout``."""
        if not writer or self.state is RoomState.UNLOADING:
            self.record(update, author_id)  # nobody will confirm it, or we will not wait
            self.adopted += 1
            return
        deadline = time.monotonic() + self.config.peer_store_timeout
        self.unconfirmed.setdefault(writer, deque()).append(
            Unconfirmed(record, deadline, update, author_id)
        )
        self._unconfirmed_count += 1
        if self._unconfirmed_count > MAX_UNCONFIRMED:
            self.adopt_unconfirmed(everything=True)
        elif self._adopt_handle is None:
            self._schedule_adoption()

    def confirm(self, writer: str, record: int) -> None:
        """``writer`` stored its records up to ``record``: stop keeping them."""
        entries = self.unconfirmed.get(writer)
        if entries is None:
            return
        while entries and entries[0].record <= record:
            entries.popleft()
            self._unconfirmed_count -= 1
        if not entries:
            del self.unconfirmed[writer]

    def adopt_unconfirmed(self, *, everything: bool = False) -> None:
        """Queue for the store the unconfirmed edits whose deadline passed (or all of them)."""
        now = time.monotonic()
        adopted = 0
        for writer in list(self.unconfirmed):
            entries = self.unconfirmed[writer]
            while entries and (everything or entries[0].deadline <= now):
                entry = entries.popleft()
                self._unconfirmed_count -= 1
                self.record(entry.update, entry.author_id)
                adopted += 1
            if not entries:
                del self.unconfirmed[writer]
        if adopted and not everything:
            log.info(
                "storing %d edits their process did not confirm (gone, or its word was lost)",
                adopted,
                extra={"room": self.room_id},
            )
        self.adopted += adopted
        self._schedule_adoption()

    def _schedule_adoption(self) -> None:
        if self._adopt_handle is not None:
            self._adopt_handle.cancel()
            self._adopt_handle = None
        if not self.unconfirmed:
            return
        earliest = min(entries[0].deadline for entries in self.unconfirmed.values())
        self._adopt_handle = asyncio.get_running_loop().call_later(
            max(0.0, earliest - time.monotonic()), self._adopt_due
        )

    def _adopt_due(self) -> None:
        self._adopt_handle = None
        self.adopt_unconfirmed()

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
                batch, numbered = self._retry
                records = [record for _, record in numbered]
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
                if self._on_stored is not None:
                    self._on_stored(self, numbered[-1][0])
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
        if self._adopt_handle is not None:
            self._adopt_handle.cancel()
            self._adopt_handle = None
        if self.fill_handle is not None:
            self.fill_handle.cancel()
            self.fill_handle = None
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
