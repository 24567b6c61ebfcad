"""AwarenessRegistry: y-protocols clock rules, socket ownership, refuted stale claims, expiry."""

from __future__ import annotations

import copy

from rooms.awareness import AwarenessRegistry
from rooms.protocol import AwarenessEntry

STATE = '{"user":{"name":"a"}}'
MOVED = '{"user":{"name":"a"},"cursor":3}'


def test_clock_rules_follow_y_protocols() -> None:
    reg = AwarenessRegistry()
    sock = object()
    # Unknown client: only clock >= 1 counts (clients would reject clock 0), a null is a no-op.
    assert not reg.apply([AwarenessEntry(1, 0, STATE)], sock, 0).changed
    assert not reg.apply([AwarenessEntry(1, 4, None)], sock, 0).changed
    added = reg.apply([AwarenessEntry(1, 1, STATE)], sock, 0)
    assert added.added == [1]
    assert added.accepted == [AwarenessEntry(1, 1, STATE)]
    assert not reg.apply([AwarenessEntry(1, 1, MOVED)], sock, 1).changed  # same clock: stale
    assert reg.apply([AwarenessEntry(1, 2, MOVED)], sock, 1).updated == [1]
    removed = reg.apply([AwarenessEntry(1, 2, None)], sock, 2)  # same-clock null removes
    assert removed.removed == [1]
    assert reg.entries() == []
    stale = reg.apply([AwarenessEntry(1, 2, STATE)], sock, 3)  # not newer than the tombstone
    assert (stale.changed, stale.refuted) == (False, [AwarenessEntry(1, 2, None)])
    assert reg.apply([AwarenessEntry(1, 3, STATE)], sock, 3).added == [1]  # newer clock: back


def test_release_nulls_only_the_sockets_own_live_states() -> None:
    reg = AwarenessRegistry()
    mine, other = object(), object()
    reg.apply([AwarenessEntry(1, 1, STATE), AwarenessEntry(2, 5, STATE)], mine, 0)
    reg.apply([AwarenessEntry(3, 1, STATE)], other, 0)
    assert sorted(reg.owned_by(mine)) == [1, 2]
    released = reg.release(mine, 1)
    assert released == [AwarenessEntry(1, 1, None), AwarenessEntry(2, 5, None)]  # clocks kept
    assert reg.release(mine, 1) == []
    assert [e.client_id for e in reg.entries()] == [3]


def test_stale_claim_to_a_released_id_gets_the_tombstone_back() -> None:
    reg = AwarenessRegistry()
    old_socket, new_socket = object(), object()
    reg.apply([AwarenessEntry(7, 4, STATE)], old_socket, 0)
    assert reg.release(old_socket, 1) == [AwarenessEntry(7, 4, None)]
    # The client is back on a new socket with its old clock (a fast reconnect): not accepted,
    # answered with the tombstone, which a y-protocols client answers with the next clock.
    again = reg.apply([AwarenessEntry(7, 4, STATE)], new_socket, 1)
    assert not again.changed
    assert again.refuted == [AwarenessEntry(7, 4, None)]
    assert reg.owned_by(new_socket) == []
    back = reg.apply([AwarenessEntry(7, 5, STATE)], new_socket, 1)
    assert back.added == [7]
    assert back.refuted == []
    assert reg.owned_by(new_socket) == [7]
    # A peer process is never answered (no socket to answer): its message is just stale.
    reg.release(new_socket, 2)
    from_bus = reg.apply([AwarenessEntry(7, 5, STATE)], None, 2)
    assert (from_bus.changed, from_bus.refuted) == (False, [])


def test_echo_of_a_leavers_state_from_another_socket_never_resurrects_it() -> None:
    """Stock clients echo every awareness change they apply (same clock). An echo of bob's last
    state that arrives after bob's socket was released must not bring bob back (a ghost)."""
    reg = AwarenessRegistry()
    alice, bob = object(), object()
    reg.apply([AwarenessEntry(1, 3, STATE)], alice, 0)
    reg.apply([AwarenessEntry(2, 5, MOVED)], bob, 0)
    assert not reg.apply([AwarenessEntry(2, 5, MOVED)], alice, 0).changed  # a live echo: no-op
    reg.release(bob, 1)
    echo = reg.apply([AwarenessEntry(1, 3, STATE), AwarenessEntry(2, 5, MOVED)], alice, 1)
    assert not echo.changed
    assert echo.refuted == [AwarenessEntry(2, 5, None)]  # alice's client holds it and ignores it
    assert [e.client_id for e in reg.entries()] == [1]
    assert reg.owned_by(alice) == [1]
    older = reg.apply([AwarenessEntry(2, 4, STATE), AwarenessEntry(2, 4, STATE)], alice, 1)
    assert older.refuted == [AwarenessEntry(2, 5, None)]  # answered once per id
    # Only bob's next clock (from wherever bob is) brings him back.
    assert reg.apply([AwarenessEntry(2, 6, MOVED)], bob, 2).added == [2]


def test_would_change_matches_apply_and_changes_nothing() -> None:
    reg = AwarenessRegistry()
    sock = object()
    reg.apply([AwarenessEntry(1, 2, STATE)], sock, 0)
    reg.apply([AwarenessEntry(2, 2, STATE)], sock, 0)
    reg.release(sock, 0)
    reg.apply([AwarenessEntry(1, 3, STATE)], sock, 0)
    cases = [
        ([AwarenessEntry(1, 3, MOVED)], False),  # echo
        ([AwarenessEntry(2, 2, STATE)], False),  # stale claim to a tombstone (refuted)
        ([AwarenessEntry(9, 0, STATE), AwarenessEntry(9, 1, None)], False),  # never accepted
        ([AwarenessEntry(1, 4, MOVED)], True),
        ([AwarenessEntry(1, 3, None)], True),
        ([AwarenessEntry(2, 3, None)], True),  # a newer null over a tombstone is forwarded
        ([AwarenessEntry(9, 1, STATE)], True),
    ]
    for entries, expected in cases:
        before = reg.entries()
        assert reg.would_change(entries) is expected, entries
        assert reg.entries() == before
    for entries, expected in cases:
        probe = AwarenessRegistry()
        probe._states = {k: copy.copy(v) for k, v in reg._states.items()}
        assert probe.apply(entries, sock, 1).changed is expected, entries


def test_newest_sender_owns_the_id_and_remote_states_are_not_local() -> None:
    reg = AwarenessRegistry()
    first, second = object(), object()
    reg.apply([AwarenessEntry(1, 1, STATE)], first, 0)
    reg.apply([AwarenessEntry(1, 2, STATE)], second, 0)  # the client moved to a new socket
    assert reg.release(first, 1) == []
    reg.apply([AwarenessEntry(9, 1, STATE)], None, 0)
    assert [e.client_id for e in reg.local_entries()] == [1]


def test_expire_forgets_stale_states_and_tombstones() -> None:
    reg = AwarenessRegistry()
    sock = object()
    reg.apply([AwarenessEntry(1, 1, STATE), AwarenessEntry(2, 1, STATE)], sock, 0)
    reg.apply([AwarenessEntry(2, 1, None)], sock, 5)  # tombstone at t=5
    assert reg.expire(10, 30) == []
    reg.apply([AwarenessEntry(1, 2, STATE)], sock, 20)
    assert reg.expire(35, 30) == []  # client 1 renewed at 20; the tombstone is dropped silently
    assert reg.expire(50, 30) == [1]
    assert reg.entries() == []
    assert reg.apply([AwarenessEntry(2, 1, STATE)], sock, 50).added == [2]  # tombstone gone
