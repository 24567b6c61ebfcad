"""Two RoomServers on one real Redis (RedisBus + RedisPresence): the scaled mode end to end."""

from __future__ import annotations

import logging
import re
import uuid

import pytest

from rooms import close_codes
from rooms.bus_redis import RedisBus
from rooms.hooks import AuthenticatePayload, Extension
from rooms.presence import RedisPresence
from rooms.store import MemoryStore
from tests.fault.redis_server import RedisServer, require_shared_redis
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


async def test_a_redis_outage_logs_one_warning_and_one_recovery(
    cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    """Edits keep flowing on the process while Redis is down; its log says so once, not once per
    publish (with a traceback each), and once more when publishing works again."""
    caplog.set_level(logging.INFO, logger="rooms.runtime")
    with RedisServer() as redis:
        bus = RedisBus(redis.url, connect_timeout=1.0, ping_interval=0.2, ping_timeout=0.4,
                       backoff_initial=0.05, backoff_max=0.3)  # fmt: skip
        served = await cluster.server(bus=bus, extensions=[TokenUsers()])
        rid = room_id()
        alice = await cluster.yclient(served.yjs_url(rid, "token=alice"), "alice")
        bob = await cluster.yclient(served.yjs_url(rid, "token=bob"), "bob")

        def server_log() -> list[logging.LogRecord]:
            return [r for r in caplog.records if r.name == "rooms.runtime"]

        for outage in range(2):
            await redis.astop()
            await eventually(lambda: not bus.connected, message="the bus noticed the outage")
            failures = bus.stats.publish_failures
            for i in range(10):
                alice.insert(0, f"{outage}{i} ")
                await bob.wait_text(alice.text)  # applied here: the server published it
            assert bus.stats.publish_failures >= failures + 10
            await redis.astart()
            await eventually(lambda: bus.connected, timeout=10, message="the bus reconnected")
            alice.insert(0, f"back{outage} ")
            await bob.wait_text(alice.text)

            def recovered(n: int = outage + 1) -> bool:
                return sum("publish works again" in r.getMessage() for r in server_log()) == n

            await eventually(recovered, message="the recovery is logged")
        failed = [r for r in server_log() if "bus publish failed" in r.getMessage()]
        assert len(failed) == 2, [r.getMessage() for r in failed]  # one per outage
        assert all(r.levelno == logging.WARNING and not r.exc_info for r in failed)
        back = [r for r in server_log() if "publish works again" in r.getMessage()]
        assert all(r.levelno == logging.WARNING for r in back)
        for record in back:
            counted = re.search(r"\((\d+) publishes failed", record.getMessage())
            assert counted is not None
            assert int(counted.group(1)) >= 10  # every edit of the outage, counted not logged
