"""Who is in which room, across every process.

Each process renews its members with :meth:`Presence.join` (the TTL covers a few renewal
periods); a crashed process stops renewing and its members vanish once their TTL passes. Reads
prune expired members, so no sweeper task is needed.

``MemoryPresence`` is the embedded default (one process). ``RedisPresence`` shares presence
between processes. Per room it keeps a sorted set ``{prefix}room:{room}:presence`` (member key
scored by its expiry in ms, taken from the Redis clock so skewed hosts agree) and a hash
``{prefix}room:{room}:presence:info`` (member key -> JSON info). An index sorted set
``{prefix}presence:rooms`` (room scored by its latest expiry) lets :meth:`rooms_live` list live
rooms without scanning keys. Every key expires shortly after its last member, so idle rooms
leave nothing behind.

Both backends store infos as JSON and hand back fresh copies, so they behave the same: tuples
come back as lists, and mutating a returned dict changes nothing.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

MAX_NAME_LENGTH = 256
MAX_INFO_BYTES = 4096
MAX_TTL = 86_400.0


class PresenceUnavailable(ConnectionError):
    """The shared presence store cannot be reached; the call changed nothing that matters
    (presence is renewed periodically, so the next renewal repairs it)."""


@runtime_checkable
class Presence(Protocol):
    async def join(self, room: str, member_key: str, info: dict[str, Any], ttl: float) -> None:
        """Add or renew ``member_key`` in ``room`` for ``ttl`` seconds with ``info``."""

    async def leave(self, room: str, member_key: str) -> None:
        """Remove ``member_key`` from ``room`` now; a no-op when it is not there."""

    async def members(self, room: str) -> list[dict[str, Any]]:
        """Live (non-expired) infos across all processes, ordered by member key."""

    async def count(self, room: str) -> int:
        """Number of live members in ``room``."""

    async def rooms_live(self) -> dict[str, int]:
        """Room -> live member count, for every room with at least one live member."""


def check_name(value: str, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"presence {what} must be a non-empty str")
    if len(value) > MAX_NAME_LENGTH:
        raise ValueError(f"presence {what} is longer than {MAX_NAME_LENGTH} characters")
    return value


def check_ttl(ttl: float) -> float:
    if isinstance(ttl, bool) or not isinstance(ttl, int | float):
        raise TypeError("presence ttl must be a number of seconds")
    if not math.isfinite(ttl) or not 0 < ttl <= MAX_TTL:
        raise ValueError(f"presence ttl must be > 0 and <= {MAX_TTL:g} seconds")
    return float(ttl)


def encode_info(info: dict[str, Any]) -> str:
    """The info as compact JSON; refuses non-dicts, non-JSON values and oversized infos."""
    if not isinstance(info, dict):
        raise TypeError("presence info must be a dict")
    try:
        text = json.dumps(info, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"presence info must be JSON-serialisable: {exc}") from None
    if len(text.encode()) > MAX_INFO_BYTES:
        raise ValueError(f"presence info exceeds {MAX_INFO_BYTES} bytes as JSON")
    return text


class MemoryPresence:
    """Presence for one process. ``clock`` is injectable so tests can expire members instantly."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._rooms: dict[str, dict[str, tuple[float, str]]] = {}

    async def join(self, room: str, member_key: str, info: dict[str, Any], ttl: float) -> None:
        check_name(room, "room")
        check_name(member_key, "member key")
        expires = self._clock() + check_ttl(ttl)
        self._rooms.setdefault(room, {})[member_key] = (expires, encode_info(info))

    async def leave(self, room: str, member_key: str) -> None:
        check_name(member_key, "member key")
        members = self._rooms.get(check_name(room, "room"))
        if members is not None:
            members.pop(member_key, None)
            if not members:
                del self._rooms[room]

    async def members(self, room: str) -> list[dict[str, Any]]:
        live = self._live(check_name(room, "room"))
        return [json.loads(live[key][1]) for key in sorted(live)]

    async def count(self, room: str) -> int:
        return len(self._live(check_name(room, "room")))

    async def rooms_live(self) -> dict[str, int]:
        counts = {room: len(self._live(room)) for room in list(self._rooms)}
        return {room: n for room, n in counts.items() if n}

    def _live(self, room: str) -> dict[str, tuple[float, str]]:
        members = self._rooms.get(room)
        if not members:
            return {}
        now = self._clock()
        for key in [k for k, (expires, _) in members.items() if expires <= now]:
            del members[key]
        if not members:
            del self._rooms[room]
            return {}
        return members


# Server time in ms, so every process scores expiries on one clock.
_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# Removes expired members of one room (zset KEYS[1], hash KEYS[2]); unpack() is limited to a few
# thousand values, so deletions go in chunks.
_PRUNE = """
local function prune(zkey, hkey, now)
  local expired = redis.call('ZRANGEBYSCORE', zkey, '-inf', now)
  for i = 1, #expired, 500 do
    redis.call('HDEL', hkey, unpack(expired, i, math.min(i + 499, #expired)))
  end
  redis.call('ZREMRANGEBYSCORE', zkey, '-inf', now)
end
"""

# Keys live until their last member expires (plus a margin), never longer.
_EXTEND = """
local function extend(zkey, hkey, index, room)
  local last = redis.call('ZRANGE', zkey, -1, -1, 'WITHSCORES')
  if #last == 0 then
    redis.call('DEL', zkey, hkey)
    redis.call('ZREM', index, room)
    return
  end
  local until_ms = tonumber(last[2]) + 1000
  redis.call('PEXPIREAT', zkey, until_ms)
  redis.call('PEXPIREAT', hkey, until_ms)
  local latest = redis.call('ZSCORE', index, room)
  if (not latest) or tonumber(latest) < tonumber(last[2]) then
    redis.call('ZADD', index, last[2], room)
  end
  local top = redis.call('ZRANGE', index, -1, -1, 'WITHSCORES')
  redis.call('PEXPIREAT', index, tonumber(top[2]) + 1000)
end
"""

_JOIN = (
    _NOW
    + _PRUNE
    + _EXTEND
    + """
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
prune(KEYS[1], KEYS[2], now)
extend(KEYS[1], KEYS[2], KEYS[3], ARGV[4])
"""
)

_LEAVE = (
    _NOW
    + _EXTEND
    + """
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
extend(KEYS[1], KEYS[2], KEYS[3], ARGV[2])
"""
)

_MEMBERS = (
    _NOW
    + _PRUNE
    + """
prune(KEYS[1], KEYS[2], now)
local live = redis.call('ZRANGE', KEYS[1], 0, -1)
local out = {}
for i = 1, #live, 500 do
  local infos = redis.call('HMGET', KEYS[2], unpack(live, i, math.min(i + 499, #live)))
  for j = 1, #infos do
    if infos[j] then
      out[#out + 1] = live[i + j - 1]
      out[#out + 1] = infos[j]
    end
  end
end
return out
"""
)

_COUNT = (
    _NOW
    + """
return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
"""
)

# Rooms whose latest expiry is still ahead, with the server time for the per-room counts.
_ROOMS = (
    _NOW
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local rooms = redis.call('ZRANGE', KEYS[1], 0, -1)
table.insert(rooms, 1, tostring(now))
return rooms
"""
)


class RedisPresence:
    """Presence shared by every process on one Redis (standalone or a single primary).

    Give it a URL (it then owns and closes its client) or an existing ``redis.asyncio.Redis``
    created with ``decode_responses=False``. Calls fail with :class:`PresenceUnavailable` when
    Redis cannot be reached; each is retried once, which is safe because every call is idempotent.
    """

    def __init__(
        self,
        redis: str | Redis,
        *,
        key_prefix: str = "hub:",
        timeout: float = 2.0,
        max_connections: int = 100,
    ) -> None:
        if isinstance(redis, str):
            # A blocking pool: a burst of joins beyond ``max_connections`` waits (up to
            # ``timeout``) for a free connection instead of failing at once with "Too many
            # connections", which the default pool does.
            pool = BlockingConnectionPool.from_url(
                redis,
                max_connections=max_connections,
                timeout=timeout,
                decode_responses=False,
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
                # One quick retry replaces a pooled connection that died with a Redis restart.
                retry=Retry(ExponentialBackoff(cap=0.1, base=0.01), 1),
            )
            self._redis: Redis = Redis.from_pool(pool)
            self._owns_client = True
        else:
            self._redis = redis
            self._owns_client = False
        self._prefix = key_prefix
        self._index = f"{key_prefix}presence:rooms"
        self._join = self._redis.register_script(_JOIN)
        self._leave = self._redis.register_script(_LEAVE)
        self._members = self._redis.register_script(_MEMBERS)
        self._count = self._redis.register_script(_COUNT)
        self._rooms = self._redis.register_script(_ROOMS)

    def room_key(self, room: str) -> str:
        return f"{self._prefix}room:{room}:presence"

    def _keys(self, room: str) -> list[str]:
        key = self.room_key(room)
        return [key, f"{key}:info", self._index]

    async def close(self) -> None:
        if self._owns_client:
            await self._redis.aclose()

    async def join(self, room: str, member_key: str, info: dict[str, Any], ttl: float) -> None:
        check_name(room, "room")
        check_name(member_key, "member key")
        ttl_ms = max(1, math.ceil(check_ttl(ttl) * 1000))
        args: list[str | int] = [member_key, encode_info(info), ttl_ms, room]
        await self._call(self._join(keys=self._keys(room), args=args))

    async def leave(self, room: str, member_key: str) -> None:
        check_name(room, "room")
        check_name(member_key, "member key")
        await self._call(self._leave(keys=self._keys(room), args=[member_key, room]))

    async def members(self, room: str) -> list[dict[str, Any]]:
        check_name(room, "room")
        flat = await self._call(self._members(keys=self._keys(room)[:2]))
        pairs = sorted(zip(flat[::2], flat[1::2], strict=True))
        return [json.loads(info) for _, info in pairs]

    async def count(self, room: str) -> int:
        check_name(room, "room")
        return int(await self._call(self._count(keys=self._keys(room)[:1])))

    async def rooms_live(self) -> dict[str, int]:
        reply = await self._call(self._rooms(keys=[self._index]))
        now, rooms = int(reply[0]), [name.decode() for name in reply[1:]]
        if not rooms:
            return {}
        async with self._redis.pipeline(transaction=False) as pipe:
            for room in rooms:
                pipe.zcount(self.room_key(room), f"({now}", "+inf")
            counts = await self._call(pipe.execute())
        return {room: int(n) for room, n in zip(rooms, counts, strict=True) if n}

    async def _call(self, awaitable: Any) -> Any:
        try:
            return await awaitable
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise PresenceUnavailable(f"presence store unreachable ({type(exc).__name__})") from exc
