"""Fixtures for the realtime core's tests: real uvicorn servers and real WebSocket clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from tests.rooms.ykit import EventClient, Served, YClient, serve


class Cluster:
    """Starts servers and clients for one test and tears all of them down afterwards."""

    def __init__(self) -> None:
        self.served: list[Served] = []
        self.clients: list[YClient | EventClient] = []

    async def server(self, **kwargs: Any) -> Served:
        served = await serve(**kwargs)
        self.served.append(served)
        return served

    async def yclient(
        self, url: str, name: str = "anon", *, sync: bool = True, **kw: Any
    ) -> YClient:
        client = YClient(url, name=name)
        self.clients.append(client)
        await client.connect(**kw)
        if sync:
            await client.wait_synced()
        return client

    async def events(self, url: str, **kw: Any) -> EventClient:
        client = await EventClient.open(url, **kw)
        self.clients.append(client)
        return client

    async def close(self) -> None:
        for client in self.clients:
            await client.close()
        for served in self.served:
            await served.close()


@pytest.fixture
async def cluster() -> AsyncIterator[Cluster]:
    c = Cluster()
    try:
        yield c
    finally:
        await c.close()


MakeServer = Callable[..., Awaitable[Served]]
