"""A small asyncio TCP proxy for fault tests (what toxiproxy would do, without the service).

    proxy = TcpProxy("127.0.0.1", target_port)
    await proxy.start()                 # listens on 127.0.0.1:proxy.port
    proxy.blackhole()                   # silent cut: sockets stay open, bytes vanish both ways
    proxy.refuse()                      # the service is down: every connection is reset at once
    proxy.restore()                     # forward again; blackholed connections are reset
    await proxy.cut()                   # reset every live connection now (peer sees RST/EOF)
    proxy.delay = 0.05                  # add latency to every chunk, both directions
    await proxy.close()

It runs in the test's event loop, so it only needs ``await``s to make progress, like any client.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

_CHUNK = 64 * 1024


@dataclass(eq=False)
class _Link:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None
    blackholed: bool
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def close(self, *, graceful: bool) -> None:
        for writer in (self.client, self.upstream):
            if writer is not None:
                if graceful:
                    writer.close()  # FIN, as when the far end closed its socket
                else:
                    writer.transport.abort()  # RST: the peer learns at once
        for task in self.tasks:
            task.cancel()


class TcpProxy:
    def __init__(self, target_host: str, target_port: int, host: str = "127.0.0.1") -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.host = host
        self.port = 0
        self.delay = 0.0
        self.accepted = 0
        self._blackholed = False
        self._refusing = False
        self._links: set[_Link] = set()
        self._server: asyncio.Server | None = None

    @property
    def connections(self) -> int:
        return len(self._links)

    def url(self, scheme: str = "redis", path: str = "/0") -> str:
        return f"{scheme}://{self.host}:{self.port}{path}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def blackhole(self) -> None:
        """Stop forwarding without closing anything, like a dead route or a frozen NAT entry."""
        self._blackholed = True
        for link in self._links:
            link.blackholed = True

    def refuse(self) -> None:
        """Reset every live connection and every new one at once, as a host whose service is
        down answers (connection refused or reset), so clients fail fast rather than time out."""
        self._refusing = True
        for link in list(self._links):
            self._drop(link)

    def restore(self) -> None:
        """New connections are forwarded again. Connections that lost bytes to the blackhole
        cannot be resumed (their streams are corrupt), so they are reset."""
        self._blackholed = False
        self._refusing = False
        for link in [link for link in self._links if link.blackholed]:
            self._drop(link)

    async def cut(self) -> None:
        for link in list(self._links):
            self._drop(link)
        await asyncio.sleep(0)  # let the aborts reach the transports

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        await self.cut()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    def _drop(self, link: _Link, *, graceful: bool = False) -> None:
        self._links.discard(link)
        link.close(graceful=graceful)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        link = _Link(client=writer, upstream=None, blackholed=self._blackholed)
        self._links.add(link)
        if self._refusing:
            self._drop(link)
            return
        if link.blackholed:
            link.tasks.append(asyncio.create_task(self._swallow(reader)))
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            self._drop(link)  # target down: the client sees its connection reset
            return
        link.upstream = up_writer
        link.tasks += [
            asyncio.create_task(self._pump(link, reader, up_writer)),
            asyncio.create_task(self._pump(link, up_reader, writer)),
        ]

    async def _swallow(self, reader: asyncio.StreamReader) -> None:
        with contextlib.suppress(OSError):
            while await reader.read(_CHUNK):
                pass

    async def _pump(
        self, link: _Link, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            while data := await reader.read(_CHUNK):
                if link.blackholed:
                    continue
                if self.delay:
                    await asyncio.sleep(self.delay)  # the injected latency itself
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            # One side closed: close the other too, as a real connection would end.
            if link in self._links and not link.blackholed:
                self._drop(link, graceful=True)
