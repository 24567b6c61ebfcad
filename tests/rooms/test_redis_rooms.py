"""Two RoomServers on one real Redis (RedisBus + RedisPresence): the scaled mode end to end."""

from __future__ import annotations

import uuid

import pytest

from rooms import close_codes
from rooms.bus_redis import RedisBus
from rooms.hooks import AuthenticatePayload, Extension
from rooms.presence import RedisPresence
from rooms.store import MemoryStore
from tests.fault.redis_server import require_shared_redis
from tests.helpers import eventually
from tests.rooms.conftest import Cluster
from tests.rooms.ykit import room_id

pytestmark = pytest.mark.redis


class TokenUsers(Extension):
    async def on_authenticate(self, payload: AuthenticatePayload) -> None:
        if payload.token:
            payload.connection.authenticate(user_id=payload.token)


async def test_two_processes_on_redis_share_edits_cursors_members_and_kicks(
    cluster: Cluster,
) -> None:
    url = require_shared_redis()
    prefix = f"test-rooms-{uuid.uuid4().hex[:8]}:"  # private keys and channels on the shared Redis
    store = MemoryStore()
    presences = [RedisPresence(url, key_prefix=prefix) for _ in range(2)]
    servers = [
        await cluster.server(
            bus=RedisBus(url, channel_prefix=prefix),
            store=store,
            presence=presence,
            extensions=[TokenUsers()],
        )
        for presence in presences
    ]
    try:
        s1, s2 = servers
        rid = room_id()
        alice = await cluster.yclient(s1.yjs_url(rid, "token=alice"), "alice")
        bob = await cluster.yclient(s2.yjs_url(rid, "token=bob"), "bob")
        alice.insert(0, "红色的猫")
        await bob.wait_text("红色的猫")
        bob.insert(4, " in the rain")
        await alice.wait_text("红色的猫 in the rain")
        await eventually(
            lambda: alice.peer_names() == {"bob"} and bob.peer_names() == {"alice"},
            message="cursors across processes",
        )
        assert await s1.server.member_count(rid) == 2
        await s1.server.kick(rid, user_id="bob")
        assert await bob.wait_closed() == close_codes.KICKED
        await eventually(lambda: alice.peer_names() == set(), message="bob's cursor gone")
    finally:
        for presence in presences:
            await presence.close()
