"""AwarenessRegistry: y-protocols clock rules, socket ownership, fast-reconnect reclaim, expiry."""

from __future__ import annotations

import pytest
from pycrdt import Doc, Text

from rooms.awareness import AwarenessRegistry
from rooms.protocol import AwarenessEntry
from rooms.room import delete_text, insert_text

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
    assert not reg.apply(
        [AwarenessEntry(1, 2, STATE)], sock, 3
    ).changed  # not the server's tombstone
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


def test_fast_reconnect_reclaims_a_released_id_with_a_raised_clock() -> None:
    reg = AwarenessRegistry()
    old_socket, new_socket = object(), object()
    reg.apply([AwarenessEntry(7, 4, STATE)], old_socket, 0)
    reg.release(old_socket, 1)
    again = reg.apply([AwarenessEntry(7, 4, STATE)], new_socket, 1)  # same clock as before
    assert again.bumped
    assert again.accepted == [AwarenessEntry(7, 5, STATE)]
    assert again.added == [7]
    assert reg.owned_by(new_socket) == [7]
    # A peer process never reclaims: its messages carry no owner.
    reg.release(new_socket, 2)
    assert not reg.apply([AwarenessEntry(7, 5, STATE)], None, 2).changed


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


def test_text_helpers_use_character_indices() -> None:
    doc: Doc[Text] = Doc()
    doc["prompt"] = text = Text()
    insert_text(text, 0, "你好世界")
    insert_text(text, 2, "😀")
    delete_text(text, 0, 1)
    delete_text(text, 1, 0)
    assert str(text) == "好😀世界"
    with pytest.raises(IndexError):
        insert_text(text, 99, "x")
    with pytest.raises(IndexError):
        delete_text(text, 3, 5)
