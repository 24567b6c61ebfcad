"""Server-side awareness bookkeeping (y-protocols semantics, plus socket ownership).

pycrdt's ``Awareness`` would work, but the server needs two things it does not do: remember
which socket sent which client id (to broadcast those as null the moment the socket goes), and
re-admit a client that reconnects quickly with the clock it had before (see ``apply``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rooms.protocol import AwarenessEntry


@dataclass(slots=True)
class _State:
    clock: int
    state: str | None  # JSON text; None = removed (a tombstone that remembers the clock)
    updated_at: float
    owner: Any  # the local connection that sent it; None for states from other processes
    released: bool = False  # removed by the server because its socket went away


@dataclass(slots=True)
class AwarenessChanges:
    accepted: list[AwarenessEntry]  # what to forward (re-encoded: stale entries filtered out)
    added: list[int]
    updated: list[int]
    removed: list[int]
    bumped: bool  # a clock was raised: the sender must get the forwarded message too

    @property
    def changed(self) -> bool:
        return bool(self.accepted)


class AwarenessRegistry:
    def __init__(self) -> None:
        self._states: dict[int, _State] = {}

    def apply(self, entries: list[AwarenessEntry], owner: Any, now: float) -> AwarenessChanges:
        """Apply entries with the y-protocols clock rule: newer clock wins, and a null with the
        same clock removes.

        One exception: a state from the owning socket for a client id the *server* released
        (its previous socket closed) is accepted even when its clock is not newer, and its clock
        is raised past the tombstone. Peers (and the client itself) then accept it at once. Without
        this a client that reconnects within a second stays invisible until it renews twice.
        """
        changes = AwarenessChanges([], [], [], [], False)
        for entry in entries:
            current = self._states.get(entry.client_id)
            if current is None:
                # y-protocols treats an unknown client as clock 0, so clients accept its first
                # state only with clock >= 1; forwarding a clock-0 state would split the views.
                if entry.state is None or entry.clock == 0:
                    continue
                self._states[entry.client_id] = _State(entry.clock, entry.state, now, owner)
                changes.accepted.append(entry)
                changes.added.append(entry.client_id)
                continue
            newer = entry.clock > current.clock
            same_clock_removal = (
                entry.clock == current.clock and entry.state is None and current.state is not None
            )
            reclaim = (
                not newer
                and entry.state is not None
                and current.state is None
                and current.released
                and owner is not None
            )
            if not (newer or same_clock_removal or reclaim):
                continue
            clock = current.clock + 1 if reclaim else entry.clock
            was_live = current.state is not None
            current.clock = clock
            current.state = entry.state
            current.updated_at = now
            current.released = False
            # Whoever sent the newest clock owns the id now (a fast reconnect moves it to the
            # new socket, or to another process when owner is None).
            current.owner = owner
            accepted = AwarenessEntry(entry.client_id, clock, entry.state)
            changes.accepted.append(accepted)
            if reclaim:
                changes.bumped = True
            if entry.state is None:
                changes.removed.append(entry.client_id)
            elif was_live:
                changes.updated.append(entry.client_id)
            else:
                changes.added.append(entry.client_id)
        return changes

    def release(self, owner: Any, now: float) -> list[AwarenessEntry]:
        """Remove every live state ``owner`` sent; returns the null entries to broadcast.

        The null keeps the last clock (as the stock y-websocket server does): peers accept a
        same-clock null as a removal."""
        removed: list[AwarenessEntry] = []
        for client_id, state in self._states.items():
            if state.owner is owner and state.state is not None:
                state.state = None
                state.updated_at = now
                state.released = True
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
