"""Run the stock Yjs client (``yclient.cjs``, see README.md here) from async tests.

``run_yclient`` starts one Node process per call, so several clients run side by side with
``asyncio.gather`` or ``asyncio.create_task``; it never blocks the event loop, so the server under
test may run in the same loop.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.helpers import service_missing

YCLIENT = Path(__file__).with_name("yclient.cjs")

# Extra seconds the Node process may take past its own --timeout (start-up, close handshake of up
# to 2 s) before we kill it and call it hung.
_GRACE_SECONDS = 5.0


def node_binary() -> str:
    """Path of ``node``; skips loudly (fails under ``CI=true``) when it is not installed."""
    node = shutil.which("node")
    if node is None:
        service_missing("node", "no `node` on PATH; the stock Yjs interop client needs node >= 18")
        raise AssertionError("unreachable")  # service_missing always raises
    return node


@dataclass(frozen=True)
class YClientResult:
    """The JSON line ``yclient.cjs`` prints, plus its exit code and its stderr event log."""

    returncode: int
    ok: bool
    synced: bool
    prompt: str
    client_id: int
    name: str
    awareness: list[dict[str, Any]]
    closes: list[dict[str, Any]]
    errors: list[dict[str, Any]]
    closed_for_good: dict[str, Any] | None
    unmet: list[str]
    edit_error: str | None
    stderr: str

    @property
    def peer_names(self) -> list[str]:
        """``user.name`` of every other client in this client's awareness, sorted."""
        names = []
        for entry in self.awareness:
            state = entry.get("state") or {}
            user = state.get("user") if isinstance(state, dict) else None
            if not entry.get("self") and isinstance(user, dict) and "name" in user:
                names.append(str(user["name"]))
        return sorted(names)

    @property
    def close_codes(self) -> list[int]:
        return [int(close["code"]) for close in self.closes]

    @property
    def http_statuses(self) -> list[int]:
        """HTTP statuses of refused handshakes (e.g. 403 for a bad Origin)."""
        return [int(e["httpStatus"]) for e in self.errors if e.get("httpStatus") is not None]


def yclient_args(
    url: str,
    room: str,
    *,
    token: str | None = None,
    name: str | None = None,
    state: Mapping[str, Any] | None = None,
    text: str | None = None,
    at: int | None = None,
    delete: int | None = None,
    insert: str | None = None,
    expect: str | None = None,
    expect_contains: Iterable[str] = (),
    expect_peers: Iterable[str] = (),
    expect_peers_gone: Iterable[str] = (),
    expect_close: int | None = None,
    expect_reject: int | None = None,
    timeout: float = 10.0,
    linger_ms: int = 0,
    origin: str | None = None,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
    quiet: bool = False,
) -> list[str]:
    """The command-line flags for these options (see README.md for their meaning)."""
    args = ["--url", url, "--room", room, "--timeout", f"{timeout:g}", "--linger", str(linger_ms)]
    single: list[tuple[str, object | None]] = [
        ("--token", token),
        ("--name", name),
        ("--state", None if state is None else json.dumps(state)),
        ("--text", text),
        ("--at", at),
        ("--delete", delete),
        ("--insert", insert),
        ("--expect", expect),
        ("--expect-close", expect_close),
        ("--expect-reject", expect_reject),
        ("--origin", origin),
    ]
    for flag, value in single:
        if value is not None:
            args += [flag, str(value)]
    for flag, values in [
        ("--expect-contains", expect_contains),
        ("--expect-peer", expect_peers),
        ("--expect-peer-gone", expect_peers_gone),
    ]:
        for value in values:
            args += [flag, value]
    for key, value in (params or {}).items():
        args += ["--param", f"{key}={value}"]
    for key, value in (headers or {}).items():
        args += ["--header", f"{key}: {value}"]
    if quiet:
        args.append("--quiet")
    return args


async def run_cli(*args: str, timeout: float = 10.0) -> tuple[int, str, str]:
    """Run ``yclient.cjs`` with raw ``args``; returns (exit code, stdout, stderr)."""
    process = await asyncio.create_subprocess_exec(
        node_binary(),
        str(YCLIENT),
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout + _GRACE_SECONDS)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(f"yclient.cjs {' '.join(args)} hung past its timeout") from None
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def run_yclient(url: str, room: str, **options: Any) -> YClientResult:
    """Run one stock Yjs client to completion; keyword options as in :func:`yclient_args`.

    Returns the result whatever the exit code (check ``.ok`` / ``.unmet``); raises
    ``AssertionError`` only when the client crashed or hung, with its stderr in the message.
    """
    args = yclient_args(url, room, **options)
    code, out, err = await run_cli(*args, timeout=float(options.get("timeout", 10.0)))
    lines = out.strip().splitlines()
    try:
        data = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        message = f"yclient.cjs exited {code} without a result; stderr:\n{err}"
        raise AssertionError(message) from None
    return YClientResult(
        returncode=code,
        ok=bool(data["ok"]),
        synced=bool(data["synced"]),
        prompt=str(data["prompt"]),
        client_id=int(data["clientId"]),
        name=str(data["name"]),
        awareness=list(data["awareness"]),
        closes=list(data["closes"]),
        errors=list(data["errors"]),
        closed_for_good=data["closedForGood"],
        unmet=list(data["unmet"]),
        edit_error=data["editError"],
        stderr=err,
    )
