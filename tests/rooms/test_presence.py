"""Presence contract for MemoryPresence and RedisPresence (shared Redis, unique key prefix), then
what only Redis does: several processes, clock from the server, keys that clean themselves up."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis

from rooms.presence import MemoryPresence, Presence, PresenceUnavailable, RedisPresence
from tests.fault.redis_server import require_shared_redis
from tests.helpers import eventually

MakePresence = Callable[[], Awaitable[Presence]]


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def make_presence(request: pytest.FixtureRequest) -> AsyncIterator[MakePresence]:
    """Factory of presence handles that share one view (processes on one Redis)."""
    if request.param == "memory":
        shared = MemoryPresence()

        async def make_memory() -> Presence:
            return shared

        yield make_memory
        return

    url = require_shared_redis()
    prefix = f"test:{uuid.uuid4().hex}:"
    handles: list[RedisPresence] = []

    async def make_redis() -> Presence:
        handle = RedisPresence(url, key_prefix=prefix)
        handles.append(handle)
        return handle

    yield make_redis
    cleaner = aioredis.Redis.from_url(url)
    keys = [key async for key in cleaner.scan_iter(match=f"{prefix}*")]
    if keys:
        await cleaner.delete(*keys)
    await cleaner.aclose()
    for handle in handles:
        await handle.close()


async def test_join_lists_members_in_key_order_with_their_info(
    make_presence: MakePresence,
) -> None:
    presence = await make_presence()
    await presence.join("room-1", "user:b", {"name": "Bo", "color": "#f00"}, ttl=30)
    await presence.join("room-1", "user:a", {"name": "张三", "tags": ("x", 1)}, ttl=30)
    assert await presence.members("room-1") == [
        {"name": "张三", "tags": ["x", 1]},  # JSON round trip on both backends
        {"name": "Bo", "color": "#f00"},
    ]
    assert await presence.count("room-1") == 2
    assert await presence.members("room-2") == []
    assert await presence.count("room-2") == 0


async def test_join_again_renews_and_replaces_info(make_presence: MakePresence) -> None:
    presence = await make_presence()
    await presence.join("room", "u1", {"v": 1}, ttl=30)
    await presence.join("room", "u1", {"v": 2}, ttl=30)
    assert await presence.members("room") == [{"v": 2}]
    assert await presence.count("room") == 1


async def test_leave_removes_member_and_unknown_leave_is_a_no_op(
    make_presence: MakePresence,
) -> None:
    presence = await make_presence()
    await presence.join("room", "u1", {"n": 1}, ttl=30)
    await presence.join("room", "u2", {"n": 2}, ttl=30)
    await presence.leave("room", "u1")
    await presence.leave("room", "u1")
    await presence.leave("room", "nobody")
    await presence.leave("no-such-room", "u1")
    assert await presence.members("room") == [{"n": 2}]
    await presence.leave("room", "u2")
    assert await presence.count("room") == 0
    assert await presence.rooms_live() == {}


async def test_rooms_live_counts_rooms_with_members(make_presence: MakePresence) -> None:
    presence = await make_presence()
    await presence.join("a", "u1", {}, ttl=30)
    await presence.join("a", "u2", {}, ttl=30)
    await presence.join("b", "u1", {}, ttl=30)  # one member key may be in several rooms
    assert await presence.rooms_live() == {"a": 2, "b": 1}


async def test_members_expire_after_their_ttl(make_presence: MakePresence) -> None:
    presence = await make_presence()
    await presence.join("room", "short", {"who": "short"}, ttl=0.2)
    await presence.join("room", "long", {"who": "long"}, ttl=30)
    assert await presence.count("room") == 2
    await eventually(lambda: _count_is(presence, "room", 1), timeout=3, message="expiry")
    assert await presence.members("room") == [{"who": "long"}]
    assert await presence.rooms_live() == {"room": 1}


async def test_renewal_keeps_a_member_alive(make_presence: MakePresence) -> None:
    presence = await make_presence()
    await presence.join("room", "u", {}, ttl=0.2)
    await presence.join("room", "u", {}, ttl=30)  # the renewal extends, never shortens by age
    await presence.join("room", "gone", {}, ttl=0.2)
    await eventually(lambda: _count_is(presence, "room", 1), timeout=3, message="expiry")
    assert await presence.members("room") == [{}]


async def test_a_room_whose_members_all_expired_is_not_live(make_presence: MakePresence) -> None:
    presence = await make_presence()
    await presence.join("fading", "u", {}, ttl=0.2)
    await presence.join("staying", "u", {}, ttl=30)
    await eventually(
        lambda: _rooms_are(presence, {"staying": 1}), timeout=3, message="fading room gone"
    )


async def _count_is(presence: Presence, room: str, expected: int) -> bool:
    return await presence.count(room) == expected


async def _rooms_are(presence: Presence, expected: dict[str, int]) -> bool:
    return await presence.rooms_live() == expected


@pytest.mark.parametrize(
    ("room", "member", "info", "ttl", "error"),
    [
        ("", "u", {}, 10, ValueError),
        ("r", "", {}, 10, ValueError),
        ("r" * 257, "u", {}, 10, ValueError),
        ("r", "u", {}, 0, ValueError),
        ("r", "u", {}, -1, ValueError),
        ("r", "u", {}, float("nan"), ValueError),
        ("r", "u", {}, float("inf"), ValueError),
        ("r", "u", {}, 86_401, ValueError),
        ("r", "u", {}, "10", TypeError),
        ("r", "u", {}, True, TypeError),
        ("r", "u", ["not", "a", "dict"], 10, TypeError),
        ("r", "u", {"bad": object()}, 10, ValueError),
        ("r", "u", {"nan": float("nan")}, 10, ValueError),
        ("r", "u", {"big": "x" * 5000}, 10, ValueError),
    ],
)
async def test_join_rejects_bad_input_and_changes_nothing(
    make_presence: MakePresence, room: str, member: str, info: Any, ttl: Any, error: type
) -> None:
    presence = await make_presence()
    await presence.join("r", "u", {"ok": True}, ttl=30)
    with pytest.raises(error):
        await presence.join(room, member, info, ttl)
    assert await presence.members("r") == [{"ok": True}]
    assert await presence.rooms_live() == {"r": 1}


async def test_reads_reject_bad_room(make_presence: MakePresence) -> None:
    presence = await make_presence()
    for call in (presence.members, presence.count):
        with pytest.raises(ValueError, match="room"):
            await call("")
    with pytest.raises(ValueError, match="member key"):
        await presence.leave("r", "")


async def test_returned_infos_are_copies(make_presence: MakePresence) -> None:
    presence = await make_presence()
    info = {"name": "a"}
    await presence.join("room", "u", info, ttl=30)
    info["name"] = "changed by caller"
    listed = await presence.members("room")
    listed[0]["name"] = "changed by reader"
    assert await presence.members("room") == [{"name": "a"}]


# -- MemoryPresence with a fake clock ----------------------------------------------------------


async def test_memory_expiry_follows_the_injected_clock() -> None:
    now = [1000.0]
    presence = MemoryPresence(clock=lambda: now[0])
    await presence.join("room", "u", {}, ttl=10)
    now[0] += 9.999
    assert await presence.count("room") == 1
    now[0] += 0.001  # expiry is inclusive: at exactly join + ttl the member is gone
    assert await presence.count("room") == 0
    assert await presence.rooms_live() == {}


# -- RedisPresence only ------------------------------------------------------------------------


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    url = require_shared_redis()
    prefix = f"test:{uuid.uuid4().hex}:"
    yield prefix
    cleaner = aioredis.Redis.from_url(url)
    keys = [key async for key in cleaner.scan_iter(match=f"{prefix}*")]
    if keys:
        await cleaner.delete(*keys)
    await cleaner.aclose()


@pytest.mark.redis
async def test_redis_members_of_a_crashed_process_vanish_after_ttl(redis_prefix: str) -> None:
    url = require_shared_redis()
    crashed = RedisPresence(url, key_prefix=redis_prefix)
    alive = RedisPresence(url, key_prefix=redis_prefix)
    try:
        await crashed.join("room", "p1:sock1", {"proc": 1}, ttl=0.3)
        await alive.join("room", "p2:sock1", {"proc": 2}, ttl=30)
        assert await alive.members("room") == [{"proc": 1}, {"proc": 2}]
        await crashed.close()  # no leave(): the process died
        await eventually(lambda: _count_is(alive, "room", 1), timeout=3, message="crash expiry")
        assert await alive.members("room") == [{"proc": 2}]
    finally:
        await alive.close()


@pytest.mark.redis
async def test_redis_keys_expire_with_their_last_member(redis_prefix: str) -> None:
    url = require_shared_redis()
    presence = RedisPresence(url, key_prefix=redis_prefix)
    raw = aioredis.Redis.from_url(url)
    try:
        await presence.join("room", "u", {}, ttl=5)
        key = presence.room_key("room")
        for name in (key, f"{key}:info", f"{redis_prefix}presence:rooms"):
            ttl_ms = await raw.pttl(name)
            assert 0 < ttl_ms <= 6000, name  # nothing outlives its last member by much
        await presence.leave("room", "u")
        assert await raw.exists(key, f"{key}:info") == 0
    finally:
        await raw.aclose()
        await presence.close()


@pytest.mark.redis
async def test_redis_accepts_an_existing_client_and_leaves_it_open(redis_prefix: str) -> None:
    client = aioredis.Redis.from_url(require_shared_redis())
    presence = RedisPresence(client, key_prefix=redis_prefix)
    await presence.join("room", "u", {"a": 1}, ttl=30)
    await presence.close()
    assert await client.ping() is True  # not ours to close
    assert await RedisPresence(client, key_prefix=redis_prefix).count("room") == 1
    await client.aclose()


@pytest.mark.redis
async def test_redis_burst_beyond_the_pool_waits_instead_of_failing(redis_prefix: str) -> None:
    # The default pool raised "Too many connections" at max_connections; a join burst bigger
    # than the pool must queue for a connection and succeed.
    presence = RedisPresence(require_shared_redis(), key_prefix=redis_prefix, max_connections=3)
    try:
        await asyncio.gather(*(presence.join("room", f"m{i}", {"i": i}, ttl=30) for i in range(40)))
        assert await presence.count("room") == 40
    finally:
        await presence.close()


@pytest.mark.redis
async def test_redis_pool_wait_is_bounded(redis_prefix: str) -> None:
    presence = RedisPresence(
        require_shared_redis(), key_prefix=redis_prefix, max_connections=1, timeout=0.2
    )
    pool = presence._redis.connection_pool
    try:
        held = await pool.get_connection()  # type: ignore[no-untyped-call]  # busy elsewhere
        with pytest.raises(PresenceUnavailable):
            await presence.count("room")
        await pool.release(held)
        assert await presence.count("room") == 0  # and it works again once one is free
    finally:
        await presence.close()
