"""Load generation for the room benchmarks (a Python client is slower than the server: 1000 full
Python clients top out near 14k msg/s, so the load is split the cheap way).

* **Sinks**: many silent y-websocket subscribers in worker processes. Each worker is a plain
  ``epoll`` loop over non-blocking sockets speaking just enough RFC 6455 (handshake, unmasked
  server frames, pong, close), with no asyncio and no per-frame object: it counts frames and
  sleeps a few milliseconds between polls so several frames arrive per ``recv``. That keeps a
  delivery far cheaper for the client than for the server under test.
* **Probes**: a few full clients (the ``websockets`` library, compression off) in one asyncio
  worker process. Senders make real Yjs updates with pycrdt (one ``Map`` entry per sender,
  overwritten each time, so the document stays small) whose value carries the sender, a sequence
  number and the ``CLOCK_MONOTONIC`` send time (one clock for every process of the machine);
  every probe that receives an update measures its latency from the bytes, whatever server
  re-encoded them.
* **Servers**: ``hub serve`` as a subprocess (exactly how it runs in production: sansio,
  compression off), and the baselines of :mod:`bench._roomservers`.

Workers are ``multiprocessing`` spawn processes driven over a pipe by the benchmark process,
which itself only waits: it needs no CPU while the load runs.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import multiprocessing
import os
import random
import re
import resource
import select
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any

from bench._util import free_port, percentile, rss_bytes, wait_http_ok

UPDATE_PREFIX = b"\x00\x02"  # y-websocket: sync message, update
MARK = re.compile(rb"@(\d+)\.(\d+)\.(\d+)@")
_SPAWN = multiprocessing.get_context("spawn")


def raise_nofile_limit(want: int | None = None) -> int:
    """Raise this process' open-file soft limit (to ``want`` or the hard limit); children started
    afterwards inherit it. Returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if want is not None else hard
    target = min(target, 1 << 20 if hard == resource.RLIM_INFINITY else hard)
    if target > soft:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def summarize(latencies_ms: Sequence[float]) -> str:
    if not latencies_ms:
        return "no samples"
    return (
        f"p50 {percentile(list(latencies_ms), 50):.1f} ms  "
        f"p99 {percentile(list(latencies_ms), 99):.1f} ms  "
        f"max {max(latencies_ms):.1f} ms  (n={len(latencies_ms)})"
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- servers --------------------------------------------------------------------------------


@dataclasses.dataclass
class ServerProcess:
    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path | None = None

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def rss(self) -> int:
        return rss_bytes(self.proc.pid)

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.proc.pid)

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}{self._log_tail()}")

    def _log_tail(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        lines = self.log_path.read_text(errors="replace").splitlines()[-15:]
        return ":\n  " + "\n  ".join(lines) if lines else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


def _spawn_server(
    name: str, cmd: list[str], port: int, env: Mapping[str, str], cwd: str, log_dir: Path
) -> ServerProcess:
    log_path = log_dir / f"{name.replace(' ', '_')}-{port}.log"
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            cmd, env=dict(env), cwd=cwd, stdout=log_file, stderr=subprocess.STDOUT
        )
    server = ServerProcess(name, proc, port, log_path)
    try:
        wait_http_ok(f"{server.http_url}/readyz", timeout=60)
    except TimeoutError:
        server.stop()
        raise RuntimeError(f"{name} did not become ready{server._log_tail()}") from None
    return server


def start_relay(log_dir: Path) -> ServerProcess:
    port = free_port()
    cmd = [sys.executable, "-m", "bench._roomservers", "relay", "--port", str(port)]
    return _spawn_server("websockets relay", cmd, port, os.environ, _repo_root(), log_dir)


def start_core(log_dir: Path) -> ServerProcess:
    port = free_port()
    cmd = [sys.executable, "-m", "bench._roomservers", "core", "--port", str(port)]
    return _spawn_server("rooms core", cmd, port, os.environ, _repo_root(), log_dir)


def hub_env(data_dir: Path, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for a benchmark ``hub serve``: a private data dir, embedded defaults unless
    ``overrides`` set DATABASE_URL / REDIS_URL, quiet logs, no embedded job worker."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("HUB_") and key not in {"DATABASE_URL", "REDIS_URL", "PORT", "HOST"}
    }
    env.update(
        {
            "HUB_DATA_DIR": str(data_dir),
            "HUB_MEDIA_DIR": str(data_dir / "media"),
            "HUB_LOG_LEVEL": "WARNING",
            "HUB_EMBEDDED_WORKER": "false",
            "HUB_RATE_LIMIT_REGISTER": "1000/minute",
            "HUB_RATE_LIMIT_LOGIN": "1000/minute",
        }
    )
    env.update(overrides or {})
    return env


def start_hub(
    env: Mapping[str, str], log_dir: Path, *, name: str = "hub serve", migrate: bool = True
) -> ServerProcess:
    """``hub serve`` on a free port (migrations first, in their own process, so that two hub
    processes sharing a database never race to create it)."""
    hub_bin = str(Path(sys.executable).parent / "hub")
    if migrate:
        subprocess.run(
            [hub_bin, "migrate"], env=dict(env), cwd=_repo_root(), check=True, capture_output=True
        )
    port = free_port()
    # The API checks Origin against the public URL: make it this process' own address.
    run_env = {"HUB_PUBLIC_URL": f"http://127.0.0.1:{port}", **env, "HUB_AUTO_MIGRATE": "false"}
    cmd = [hub_bin, "serve", "--port", str(port)]
    return _spawn_server(name, cmd, port, run_env, _repo_root(), log_dir)


def _repo_root() -> str:
    return str(Path(__file__).resolve().parent.parent)


@contextlib.contextmanager
def scratch_dir(prefix: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        yield Path(tmp)


# --- hub setup through the API --------------------------------------------------------------


@dataclasses.dataclass
class HubRoom:
    token: str
    slugs: list[str]

    def yjs_path(self, slug: str) -> str:
        return f"/yjs/{slug}?token={self.token}"


def setup_hub_rooms(http_url: str, rooms: int = 1, *, title: str = "bench") -> HubRoom:
    """Register a user, mint a personal token and create ``rooms`` rooms, all through the API
    (the same calls a user makes)."""
    import httpx

    suffix = f"{os.getpid()}{random.randrange(10**6)}"
    email = f"bench{suffix}@example.com"
    password = f"bench-password-{suffix}"
    with httpx.Client(base_url=http_url, timeout=30, headers={"Origin": http_url}) as client:
        _check(
            client.post(
                "/api/v1/auth/register",
                json={"email": email, "username": f"bench{suffix}", "password": password},
            )
        )
        pair = _check(
            client.post("/api/v1/auth/token", json={"login": email, "password": password})
        )
        client.cookies.clear()  # from here on the bearer token speaks, not the session cookie
        auth = {"Authorization": f"Bearer {pair['access_token']}"}
        created = _check(client.post("/api/v1/me/tokens", json={"name": "bench"}, headers=auth))
        token = created["secret"]
        auth = {"Authorization": f"Bearer {token}"}
        slugs = []
        for index in range(rooms):
            room = _check(
                client.post(
                    "/api/v1/rooms",
                    json={"title": f"{title} {index}", "visibility": "private"},
                    headers=auth,
                )
            )
            slugs.append(str(room["slug"]))
    return HubRoom(token=token, slugs=slugs)


def _check(response: Any) -> Any:
    if response.status_code >= 400:
        raise RuntimeError(
            f"{response.request.method} {response.request.url.path} answered "
            f"{response.status_code}: {response.text[:300]}"
        )
    return response.json()


# --- sinks: silent subscribers on an epoll loop ---------------------------------------------

_HANDSHAKE, _OPEN, _CLOSED = 0, 1, 2
_CLOSE_FRAME = b"\x88\x82\x00\x00\x00\x00\x03\xe8"  # masked (zero key) close 1000


class _Sink:
    __slots__ = ("buf", "close_code", "greeted", "sock", "state", "updates")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.state = _HANDSHAKE
        self.buf = b""
        self.close_code: int | None = None
        self.updates = 0
        self.greeted = False  # the server sent a first frame after the upgrade


class _SinkPool:
    def __init__(self, batch_sleep: float) -> None:
        self.batch_sleep = batch_sleep
        self.epoll = select.epoll()
        self.sinks: dict[int, _Sink] = {}
        self.updates = 0
        self.other_frames = 0
        self.received_bytes = 0
        self.opened = 0
        self.failures: Counter[str] = Counter()
        self.close_codes: Counter[int] = Counter()

    # commands
    def connect(
        self,
        host: str,
        port: int,
        paths: Sequence[str],
        headers: Mapping[str, str],
        timeout: float,
        batch: int,
        greeting: bool,
    ) -> dict[str, Any]:
        opened_before = self.opened
        failures_before = sum(self.failures.values())
        for start in range(0, len(paths), batch):
            pending: set[int] = set()
            for path in paths[start : start + batch]:
                try:
                    sock = socket.create_connection((host, port), timeout=timeout)
                except OSError as exc:
                    self.failures[f"connect: {exc.strerror or exc}"] += 1
                    continue
                sock.setblocking(False)
                key = base64.b64encode(os.urandom(16)).decode()
                extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
                request = (
                    f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                    f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                    f"Sec-WebSocket-Version: 13\r\n{extra}\r\n"
                ).encode()
                sock.sendall(request)
                sink = _Sink(sock)
                self.sinks[sock.fileno()] = sink
                self.epoll.register(sock.fileno(), select.EPOLLIN)
                pending.add(sock.fileno())
            deadline = time.monotonic() + timeout
            while pending and time.monotonic() < deadline:
                for fd, _ in self.epoll.poll(0.05):
                    self._readable(fd)
                pending.difference_update([fd for fd in pending if self._settled(fd, greeting)])
            for fd in pending:
                stuck = self.sinks.get(fd)
                late = "greeting" if stuck is not None and stuck.state == _OPEN else "handshake"
                self.failures[f"{late} timeout"] += 1
                self._drop(fd, None)
        return {
            "opened": self.opened - opened_before,
            "failed": sum(self.failures.values()) - failures_before,
            "failures": dict(self.failures),
        }

    def _settled(self, fd: int, greeting: bool) -> bool:
        sink = self.sinks.get(fd)
        if sink is None:
            return True
        return sink.state != _HANDSHAKE and (sink.greeted or not greeting)

    def stats(self) -> dict[str, Any]:
        return {
            "open": sum(1 for sink in self.sinks.values() if sink.state == _OPEN),
            # Sinks that got at least one update: members of the room, not just upgraded
            # (a server may accept the upgrade before it admits the socket to the room).
            "receiving": sum(1 for sink in self.sinks.values() if sink.updates),
            "updates": self.updates,
            "other_frames": self.other_frames,
            "bytes": self.received_bytes,
            "failures": dict(self.failures),
            "close_codes": dict(self.close_codes),
            "at": time.monotonic(),
        }

    def close_all(self, timeout: float = 3.0) -> None:
        for sink in list(self.sinks.values()):
            if sink.state == _OPEN:
                self._send(sink, _CLOSE_FRAME)
        deadline = time.monotonic() + timeout
        while self.sinks and time.monotonic() < deadline:
            for fd, _ in self.epoll.poll(0.05):
                self._readable(fd)
        for fd in list(self.sinks):
            self._drop(fd, None)

    # socket events
    def _send(self, sink: _Sink, data: bytes) -> None:
        with contextlib.suppress(OSError):
            sink.sock.send(data)  # tiny control frames: the socket buffer always has room

    def _readable(self, fd: int) -> None:
        sink = self.sinks.get(fd)
        if sink is None:
            return
        try:
            data = sink.sock.recv(262_144)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            if sink.state == _HANDSHAKE:
                self.failures["closed during handshake"] += 1
            self._drop(fd, sink.close_code if sink.close_code is not None else 1006)
            return
        self.received_bytes += len(data)
        buf = sink.buf + data if sink.buf else data
        if sink.state == _HANDSHAKE:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                sink.buf = buf
                return
            status = buf[: buf.find(b"\r\n")].decode("latin-1")
            if " 101 " not in f"{status} ":
                self.failures[f"handshake: {status[9:] or status}"] += 1
                self._drop(fd, None)
                return
            sink.state = _OPEN
            self.opened += 1
            buf = buf[end + 4 :]
        if buf:
            sink.greeted = True
        sink.buf = self._frames(sink, buf)
        if sink.state == _CLOSED:
            self._drop(fd, sink.close_code)

    def _frames(self, sink: _Sink, buf: bytes) -> bytes:
        pos, size = 0, len(buf)
        while size - pos >= 2:
            length = buf[pos + 1] & 0x7F
            head = 2
            if length == 126:
                if size - pos < 4:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                head = 4
            elif length == 127:
                if size - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                head = 10
            end = pos + head + length
            if end > size:
                break
            opcode = buf[pos] & 0x0F
            body = pos + head
            if opcode == 2 and length >= 2 and buf[body] == 0 and buf[body + 1] == 2:
                self.updates += 1
                sink.updates += 1
            elif opcode == 9:  # ping: answer, or the server drops us after its ping timeout
                payload = buf[body:end]
                self._send(sink, bytes([0x8A, 0x80 | len(payload)]) + b"\x00" * 4 + payload)
            elif opcode == 8:
                sink.close_code = int.from_bytes(buf[body : body + 2], "big") if length else 1005
                sink.state = _CLOSED
                return b""
            else:
                self.other_frames += 1
            pos = end
        return buf[pos:]

    def _drop(self, fd: int, close_code: int | None) -> None:
        sink = self.sinks.pop(fd, None)
        if sink is None:
            return
        if close_code is not None:
            self.close_codes[close_code] += 1
        with contextlib.suppress(OSError, ValueError):
            self.epoll.unregister(fd)
        sink.sock.close()

    # worker loop
    def serve(self, pipe: Pipe) -> None:
        self.epoll.register(pipe.fileno(), select.EPOLLIN)
        while True:
            events = self.epoll.poll(1.0)
            for fd, _ in events:
                if fd == pipe.fileno():
                    command, args = pipe.recv()
                    if command == "stop":
                        self.close_all()
                        pipe.send(("ok", self.stats()))
                        return
                    try:
                        reply = getattr(self, command)(*args)
                        pipe.send(("ok", reply))
                    except Exception:
                        pipe.send(("error", traceback.format_exc()))
                else:
                    self._readable(fd)
            if events and self.batch_sleep:
                time.sleep(self.batch_sleep)  # let frames pile up: fewer, fuller recv calls


def _sink_worker(pipe: Pipe, batch_sleep: float) -> None:
    raise_nofile_limit()
    _SinkPool(batch_sleep).serve(pipe)


def _call(pipe: Pipe, command: str, *args: Any, timeout: float = 120.0) -> Any:
    pipe.send((command, args))
    if not pipe.poll(timeout):
        raise TimeoutError(f"load worker did not answer {command!r} within {timeout} s")
    status, reply = pipe.recv()
    if status != "ok":
        raise RuntimeError(f"load worker failed on {command!r}:\n{reply}")
    return reply


@dataclasses.dataclass
class SinkStats:
    open: int
    receiving: int
    updates: int
    other_frames: int
    received_bytes: int
    failures: Counter[str]
    close_codes: Counter[int]
    at: float

    def describe_losses(self) -> str:
        parts = [f"{count}x {reason}" for reason, count in self.failures.items()]
        parts += [f"{count}x closed {code}" for code, count in self.close_codes.items()]
        return ", ".join(parts) or "none"


class Sinks:
    """Silent subscribers spread over ``processes`` worker processes."""

    def __init__(self, processes: int = 2, batch_ms: float = 10.0) -> None:
        self._pipes: list[Pipe] = []
        self._procs: list[Any] = []
        for _ in range(processes):
            parent, child = _SPAWN.Pipe()
            proc = _SPAWN.Process(target=_sink_worker, args=(child, batch_ms / 1000), daemon=True)
            proc.start()
            child.close()
            self._pipes.append(parent)
            self._procs.append(proc)

    def connect(
        self,
        port: int,
        paths: Sequence[str],
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float = 30.0,
        batch: int = 25,
        greeting: bool = False,
    ) -> tuple[int, dict[str, int]]:
        """Open one socket per path (round robin over the workers, in parallel; each worker
        keeps at most ``batch`` handshakes in flight). With ``greeting`` a handshake lasts until
        the server's first frame (servers that greet send it once they admitted the socket),
        which bounds the admissions in flight too. Returns how many opened and the failures by
        reason."""
        shares: list[list[str]] = [[] for _ in self._pipes]
        for index, path in enumerate(paths):
            shares[index % len(shares)].append(path)
        for pipe, share in zip(self._pipes, shares, strict=True):
            args = ("127.0.0.1", port, share, dict(headers or {}), timeout, batch, greeting)
            pipe.send(("connect", args))
        opened = 0
        failures: Counter[str] = Counter()
        for pipe in self._pipes:
            if not pipe.poll(timeout * (len(paths) // batch + 2)):
                raise TimeoutError("sink worker did not finish connecting")
            status, reply = pipe.recv()
            if status != "ok":
                raise RuntimeError(f"sink worker failed:\n{reply}")
            opened += reply["opened"]
            failures.update(reply["failures"])
        return opened, dict(failures)

    @property
    def pids(self) -> list[int]:
        return [proc.pid for proc in self._procs]

    def stats(self) -> SinkStats:
        replies = [_call(pipe, "stats") for pipe in self._pipes]
        return _sum_stats(replies)

    def close(self) -> SinkStats | None:
        replies = []
        for pipe in self._pipes:
            with contextlib.suppress(Exception):
                replies.append(_call(pipe, "stop", timeout=30))
        for proc in self._procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
        self._pipes.clear()
        self._procs.clear()
        return _sum_stats(replies) if replies else None


def _sum_stats(replies: Sequence[Mapping[str, Any]]) -> SinkStats:
    failures: Counter[str] = Counter()
    codes: Counter[int] = Counter()
    for reply in replies:
        failures.update(reply["failures"])
        codes.update(reply["close_codes"])
    return SinkStats(
        open=sum(r["open"] for r in replies),
        receiving=sum(r["receiving"] for r in replies),
        updates=sum(r["updates"] for r in replies),
        other_frames=sum(r["other_frames"] for r in replies),
        received_bytes=sum(r["bytes"] for r in replies),
        failures=failures,
        close_codes=codes,
        at=max(r["at"] for r in replies),
    )


# --- probes: full clients that send real Yjs updates and time them --------------------------


def _var_uint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    out.append(value)
    return bytes(out)


class _Sender:
    """Makes consecutive Yjs updates from one client: ``bench[p<id>] = "@id.seq.t_ns@"``."""

    def __init__(self, probe_id: int) -> None:
        from pycrdt import Doc, Map

        self.probe_id = probe_id
        self.doc: Any = Doc(client_id=random.randrange(1, 2**31))
        self.map: Any = self.doc.get("bench", type=Map)
        self._updates: list[bytes] = []
        self.doc.observe(lambda event: self._updates.append(event.update))
        self.seq = 0

    def next_frame(self) -> tuple[bytes, int, int]:
        self.seq += 1
        sent_ns = time.monotonic_ns()
        self.map[f"p{self.probe_id}"] = f"@{self.probe_id}.{self.seq}.{sent_ns}@"
        update = self._updates.pop()
        self._updates.clear()
        return UPDATE_PREFIX + _var_uint(len(update)) + update, self.seq, sent_ns


class _ProbeRun:
    def __init__(self) -> None:
        self.sockets: list[Any] = []
        self.labels: list[str] = []
        self.readers: list[asyncio.Task[None]] = []
        self.senders: list[asyncio.Task[None]] = []
        self.window: tuple[int, int | None] | None = None  # monotonic ns
        self.sent: dict[tuple[int, int], int] = {}  # (probe, seq) -> send ns, in the window
        self.arrivals: dict[str, list[float]] = {}  # receiver label -> latencies (ms)
        self.received: Counter[str] = Counter()  # receiver label -> update frames, in window
        self.seen: dict[tuple[int, int], set[int]] = {}  # (probe, seq) -> receivers so far
        self.pairs: set[tuple[int, int]] = set()  # (sender, receiver) that ever met
        self.docs: dict[int, _Sender] = {}
        self.acked: dict[int, int] = {}
        self.ack_event = asyncio.Event()
        self.ack_by: dict[int, int] = {}  # sender -> the probe whose receipt acknowledges it
        self.errors: list[str] = []
        self.closing = False

    async def connect(self, probes: Sequence[tuple[str, str]]) -> int:
        from websockets.asyncio.client import connect

        for label, url in probes:
            ws = await connect(url, compression=None, max_size=2**22, open_timeout=30)
            index = len(self.sockets)
            self.sockets.append(ws)
            self.labels.append(label)
            self.arrivals.setdefault(label, [])
            self.readers.append(asyncio.create_task(self._read(index, ws)))
        return len(self.sockets)

    async def _read(self, index: int, ws: Any) -> None:
        label = self.labels[index]
        try:
            async for message in ws:
                now = time.monotonic_ns()
                if not isinstance(message, bytes) or not message.startswith(UPDATE_PREFIX):
                    continue
                window = self.window
                in_window = window is not None and now >= window[0] and window[1] is None
                if in_window:
                    self.received[label] += 1
                for match in MARK.finditer(message):
                    probe, seq, sent_ns = (int(group) for group in match.groups())
                    self.pairs.add((probe, index))
                    if self.ack_by.get(probe) == index and seq > self.acked.get(probe, 0):
                        self.acked[probe] = seq
                        self.ack_event.set()
                    if probe != index and (probe, seq) in self.sent:
                        self.arrivals[label].append((now - sent_ns) / 1e6)
                        self.seen.setdefault((probe, seq), set()).add(index)
        except Exception as exc:
            self.errors.append(f"probe {index} ({label}) reader: {exc!r}")
            return
        if not self.closing:
            self.errors.append(f"probe {index} ({label}) closed by the server: {ws.close_code}")

    def start(self, senders: Sequence[int], rate: float, window: int) -> None:
        """Senders send ``rate`` updates/s each (paced, open loop), or with ``rate`` 0 as fast
        as the server takes them with at most ``window`` unacknowledged (closed loop)."""
        self.ack_by.clear()
        for position, probe in enumerate(senders):
            others = [i for i in range(len(self.sockets)) if i != probe]
            self.ack_by[probe] = others[position % len(others)]
            self.senders.append(asyncio.create_task(self._send(probe, rate, window)))

    async def _send(self, probe: int, rate: float, window: int) -> None:
        # One document per probe for the whole run: a fresh one would write its key
        # concurrently with the old value, and half the time (lower client id) lose the
        # conflict, so its updates would reach the others as deletions without content.
        sender = self.docs.get(probe)
        if sender is None:
            sender = self.docs[probe] = _Sender(probe)
        first_seq = sender.seq
        ws = self.sockets[probe]
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        try:
            while True:
                if rate > 0:
                    next_at += 1.0 / rate
                    delay = next_at - loop.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                else:
                    while sender.seq - max(self.acked.get(probe, 0), first_seq) >= window:
                        self.ack_event.clear()
                        await self.ack_event.wait()
                frame, seq, sent_ns = sender.next_frame()
                if self.window is not None and self.window[1] is None:
                    self.sent[(probe, seq)] = sent_ns
                await ws.send(frame)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.errors.append(f"probe {probe} sender: {exc!r}")

    def joined(self, senders: Sequence[int]) -> bool:
        """Every sender's updates reached every other probe at least once."""
        return all(
            (sender, receiver) in self.pairs
            for sender in senders
            for receiver in range(len(self.sockets))
            if receiver != sender
        )

    async def halt(self) -> None:
        for task in self.senders:
            task.cancel()
        for task in self.senders:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.senders.clear()

    def open_window(self) -> None:
        self.window = (time.monotonic_ns(), None)

    async def finish(self, grace: float) -> dict[str, Any]:
        if self.window is None:
            raise RuntimeError("finish before open_window")
        closed_at = time.monotonic_ns()
        self.window = (self.window[0], closed_at)
        await self.halt()
        received = dict(self.received)  # frames received while the window was open
        receivers = {label: self.labels.count(label) for label in self.labels}
        expected = self._expected(receivers)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(
            len(self.arrivals[label]) < want for label, want in expected.items()
        ):
            await asyncio.sleep(0.05)
        result = {
            "window_s": (closed_at - self.window[0]) / 1e9,
            "sent": len(self.sent),
            "latency_ms": {label: list(values) for label, values in self.arrivals.items()},
            "expected": expected,
            "received": received,
            "errors": list(self.errors),
            "missing": sorted(
                (*key, sorted(self.seen.get(key, ())))
                for key in self.sent
                if len(self.seen.get(key, ())) < len(self.sockets) - 1
            )[:20],
        }
        self.seen.clear()
        self.window = None
        self.sent.clear()
        self.received.clear()
        for values in self.arrivals.values():
            values.clear()
        return result

    def _expected(self, receivers: Mapping[str, int]) -> dict[str, int]:
        expected: Counter[str] = Counter()
        for probe, _ in self.sent:
            for index, label in enumerate(self.labels):
                if index != probe:
                    expected[label] += 1
        for label in receivers:
            expected.setdefault(label, 0)
        return dict(expected)

    async def close(self) -> None:
        self.closing = True
        for task in self.senders:
            task.cancel()
        for ws in self.sockets:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 5)
        for task in self.readers:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def _probe_main(pipe: Pipe) -> None:
    loop = asyncio.get_running_loop()
    commands: asyncio.Queue[tuple[str, tuple[Any, ...]]] = asyncio.Queue()

    def on_command() -> None:
        try:
            commands.put_nowait(pipe.recv())
        except EOFError:  # the benchmark process is gone: stop too
            loop.remove_reader(pipe.fileno())
            commands.put_nowait(("stop", ()))

    loop.add_reader(pipe.fileno(), on_command)
    run = _ProbeRun()
    while True:
        command, args = await commands.get()
        try:
            if command == "connect":
                reply: Any = await run.connect(*args)
            elif command == "start":
                run.start(*args)
                reply = None
            elif command == "joined":
                reply = run.joined(*args)
            elif command == "halt":
                await run.halt()
                reply = None
            elif command == "open_window":
                run.open_window()
                reply = None
            elif command == "finish":
                reply = await run.finish(*args)
            elif command == "stop":
                loop.remove_reader(pipe.fileno())
                await run.close()
                with contextlib.suppress(OSError):
                    pipe.send(("ok", None))
                return
            else:
                raise ValueError(f"unknown command {command!r}")
            pipe.send(("ok", reply))
        except Exception:
            pipe.send(("error", traceback.format_exc()))


def _probe_worker(pipe: Pipe) -> None:
    asyncio.run(_probe_main(pipe))


@dataclasses.dataclass
class ProbeResult:
    window_s: float
    sent: int
    latency_ms: dict[str, list[float]]
    expected: dict[str, int]
    received: dict[str, int]
    errors: list[str]
    missing: list[tuple[int, int, list[int]]]  # sample: (probe, seq, receivers that got it)

    def lost(self, label: str) -> int:
        return max(0, self.expected.get(label, 0) - len(self.latency_ms.get(label, [])))

    def all_latencies(self) -> list[float]:
        return [value for values in self.latency_ms.values() for value in values]


class Probes:
    """Latency probes in one worker process. ``probes`` are ``(label, ws_url)``; latencies are
    grouped by the receiving probe's label."""

    def __init__(self) -> None:
        parent, child = _SPAWN.Pipe()
        self._proc = _SPAWN.Process(target=_probe_worker, args=(child,), daemon=True)
        self._proc.start()
        child.close()
        self._pipe: Pipe | None = parent

    def _do(self, command: str, *args: Any, timeout: float = 120.0) -> Any:
        if self._pipe is None:
            raise RuntimeError("probes are closed")
        return _call(self._pipe, command, *args, timeout=timeout)

    @property
    def pid(self) -> int:
        pid = self._proc.pid
        if pid is None:
            raise RuntimeError("probe worker not started")
        return pid

    def connect(self, probes: Sequence[tuple[str, str]]) -> int:
        return int(self._do("connect", list(probes)))

    def start(self, senders: Sequence[int], *, rate: float = 0.0, window: int = 4) -> None:
        self._do("start", list(senders), rate, window)

    def joined(self, senders: Sequence[int]) -> bool:
        return bool(self._do("joined", list(senders)))

    def halt(self) -> None:
        self._do("halt")

    def open_window(self) -> None:
        self._do("open_window")

    def finish(self, grace: float = 5.0) -> ProbeResult:
        return ProbeResult(**self._do("finish", grace, timeout=grace + 60))

    def close(self) -> None:
        if self._pipe is not None:
            with contextlib.suppress(Exception):
                self._do("stop", timeout=30)
            self._pipe = None
        self._proc.join(timeout=10)
        if self._proc.is_alive():
            self._proc.kill()


def wait_joined(
    probes: Probes,
    n_probes: int,
    sinks: Sinks | None,
    n_sinks: int,
    *,
    rate: float = 10.0,
    timeout: float = 60.0,
) -> float:
    """Send updates from every probe until every probe hears every other one and every sink
    has received one: only then is everyone a member of the room (servers accept the upgrade
    before they admit the socket). Returns the seconds it took."""
    started = time.monotonic()
    everyone = list(range(n_probes))
    probes.start(everyone, rate=rate)
    try:
        while True:
            stats = sinks.stats() if sinks is not None else None
            receiving = stats.receiving if stats is not None else 0
            if probes.joined(everyone) and receiving >= n_sinks:
                return time.monotonic() - started
            if time.monotonic() - started > timeout:
                losses = stats.describe_losses() if stats is not None else "none"
                raise TimeoutError(
                    f"not everyone joined within {timeout:g} s: {receiving}/{n_sinks} sinks "
                    f"receiving (sockets lost: {losses}), probes joined: "
                    f"{probes.joined(everyone)}"
                )
            time.sleep(0.1)
    finally:
        probes.halt()
