"""Server-side awareness bookkeeping (y-protocols semantics, plus socket ownership).

pycrdt's ``Awareness`` would work, but the server needs two things it does not do: remember
which socket sent which client id (to broadcast those as null the moment the socket goes), and
answer a stale claim to a removed client id with the removal (see ``apply``).

Stock y-websocket clients send every awareness change they *apply* back to the server with the
same clock, other clients' states included (tests/interop/README.md). So a socket's messages name
ids it does not own. Ownership therefore follows only what a message changed (an id it added or
advanced), and a same-clock echo is a no-op: nothing is forwarded and nobody's ownership moves.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from rooms.protocol import AwarenessEntry


@dataclass(slots=True)
class _State:
    clock: int
    state: str | None  # JSON text; None = removed (a tombstone that remembers the clock)
    updated_at: float
    owner: Any  # the local connection that sent it; None for states from other processes


class _Verdict(enum.Enum):
    ADD = "add"  # unknown id, or a removed one back with a newer clock
    UPDATE = "update"  # a live state with a newer clock
    REMOVE = "remove"  # a null with a newer or the same clock
    REFUTE = "refute"  # a state no newer than our tombstone: answer with the tombstone
    IGNORE = "ignore"  # an echo or a stale state


_CHANGES = frozenset({_Verdict.ADD, _Verdict.UPDATE, _Verdict.REMOVE})


@dataclass(slots=True)
class AwarenessChanges:
    accepted: list[AwarenessEntry] = field(default_factory=list)  # what to forward
    added: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)
    # Our tombstones for stale claims, to send back to the sender alone (see ``apply``).
    refuted: list[AwarenessEntry] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.accepted)


class AwarenessRegistry:
    def __init__(self) -> None:
        self._states: dict[int, _State] = {}

    @staticmethod
    def _verdict(entry: AwarenessEntry, current: _State | None, owner: Any) -> _Verdict:
        if current is None:
            # y-protocols treats an unknown client as clock 0, so clients accept its first
            # state only with clock >= 1; forwarding a clock-0 state would split the views.
            if entry.state is None or entry.clock == 0:
                return _Verdict.IGNORE
            return _Verdict.ADD
        if entry.clock > current.clock:
            if entry.state is None:
                return _Verdict.REMOVE  # also over a tombstone: peers learn the newer clock
            return _Verdict.UPDATE if current.state is not None else _Verdict.ADD
        if entry.clock == current.clock and entry.state is None and current.state is not None:
            return _Verdict.REMOVE
        if entry.state is not None and current.state is None and owner is not None:
            return _Verdict.REFUTE
        return _Verdict.IGNORE

    def would_change(self, entries: list[AwarenessEntry]) -> bool:
        """Whether ``apply`` would accept any of ``entries`` (nothing is changed here)."""
        return any(
            self._verdict(entry, self._states.get(entry.client_id), None) in _CHANGES
            for entry in entries
        )

    def apply(self, entries: list[AwarenessEntry], owner: Any, now: float) -> AwarenessChanges:
        """Apply entries with the y-protocols clock rule: a newer clock wins, and a null with the
        same clock removes. ``owner`` is the local socket that sent them (None: another process).

        A state that is not newer than a removed id's tombstone is never accepted, whoever sends
        it: it is either an echo of a state the server already removed (a peer's client echoing
        a leaver's last move) or the removed client itself, back on a new socket with its old
        clock (a fast reconnect). Both get the tombstone back (``refuted``): a y-protocols client
        never lets a peer remove its *own* state, so the real owner answers at once with its
        state at the next clock (accepted as newer, and owned by the socket it comes from), while
        any other client already holds that tombstone and ignores it. The proof of ownership is
        the client's own protocol behaviour, so an echo can never resurrect a leaver.
        """
        changes = AwarenessChanges()
        refuted: set[int] = set()
        for entry in entries:
            current = self._states.get(entry.client_id)
            verdict = self._verdict(entry, current, owner)
            if verdict is _Verdict.IGNORE:
                continue
            if verdict is _Verdict.REFUTE and current is not None:
                if entry.client_id not in refuted:
                    refuted.add(entry.client_id)
                    changes.refuted.append(AwarenessEntry(entry.client_id, current.clock, None))
                continue
            if current is None:
                self._states[entry.client_id] = _State(entry.clock, entry.state, now, owner)
            else:
                current.clock = entry.clock
                current.state = entry.state
                current.updated_at = now
                # Whoever sent the newest clock owns the id now (the client moved to a new
                # socket, or to another process when owner is None); a tombstone has no owner.
                current.owner = owner if entry.state is not None else None
            changes.accepted.append(entry)
            if verdict is _Verdict.ADD:
                changes.added.append(entry.client_id)
            elif verdict is _Verdict.UPDATE:
                changes.updated.append(entry.client_id)
            else:
                changes.removed.append(entry.client_id)
        return changes

    def release(self, owner: Any, now: float) -> list[AwarenessEntry]:
        """Remove every live state ``owner`` sent; returns the null entries to broadcast.

        The null keeps the last clock (as the stock y-websocket server does): peers accept a
        same-clock null as a removal. The tombstone stays for the awareness timeout, so late
        echoes of the removed state are refuted rather than taken for a new client."""
        removed: list[AwarenessEntry] = []
        for client_id, state in self._states.items():
            if state.owner is owner and state.state is not None:
                state.state = None
                state.updated_at = now
                state.owner = None
                removed.append(AwarenessEntry(client_id, state.clock, None))
        return removed

    def entries(self) -> list[AwarenessEntry]:
        """Every live state (what a newcomer needs)."""
        return [
            AwarenessEntry(client_id, s.clock, s.state)
            for client_id, s in self._states.items()
            if s.state is not None
        ]

    def local_entries(self) -> list[AwarenessEntry]:
        """Live states sent by sockets of this process (what a peer process asks for)."""
        return [
            AwarenessEntry(client_id, s.clock, s.state)
            for client_id, s in self._states.items()
            if s.state is not None and s.owner is not None
        ]

    def owned_by(self, owner: Any) -> list[int]:
        return [cid for cid, s in self._states.items() if s.owner is owner and s.state is not None]

    def expire(self, now: float, timeout: float) -> list[int]:
        """Forget states not renewed within ``timeout`` (clients drop them on their own at the
        same age, so nothing is broadcast) and tombstones older than that."""
        expired_live: list[int] = []
        for client_id in [c for c, s in self._states.items() if now - s.updated_at >= timeout]:
            if self._states.pop(client_id).state is not None:
                expired_live.append(client_id)
        return expired_live
