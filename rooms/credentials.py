"""Closing sockets by credential key, in every room on every process (``close_matching``).

An extension gives each socket opaque keys (``ConnectionContext.credentials``, e.g. a login and a
user); when one ends (a sign-out, a revoked token) the hub closes every socket holding it. The
request travels as one control message on the process-wide connections channel. A key closed
here is remembered for ``ENDED_KEYS_TTL``, so a socket whose authentication began before the
close arrived but finished after it (a handshake in flight) is refused the same way.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterable, Sequence

from rooms import close_codes, wire
from rooms.bus import BusMessage, Subscription
from rooms.connection import Connection
from rooms.hooks import Reject
from rooms.protocol import ProtocolError
from rooms.runtime import Runtime, connections_channel
from rooms.types import ConnectionContext

log = logging.getLogger(__name__)

ENDED_KEYS_TTL = 60.0
MAX_KEY_LENGTH = 200

__all__ = [
    "CredentialCloser",
    "close_matching_message",
    "connections_channel",
    "parse_close_matching",
]


def close_matching_message(
    keys: Iterable[str], code: int = close_codes.UNAUTHENTICATED, reason: str = ""
) -> tuple[list[str], bytes]:
    """The checked keys and the control message of ``RoomServer.close_matching``. A process
    without a server (a command line) that publishes it on :func:`connections_channel` of the
    same bus closes those sockets on every process. Raises ``ValueError`` for a bad key or code."""
    wanted = sorted({_check_key(key) for key in keys})
    if not _is_close_code(code):
        raise ValueError(f"invalid close code {code!r}")
    data = {"action": "close_matching", "keys": wanted, "code": code, "reason": reason}
    return wanted, wire.encode_control(data)


def parse_close_matching(payload: bytes) -> tuple[list[str], int, str]:
    """``(keys, code, reason)`` of a message made by :func:`close_matching_message`, for other
    holders of sockets on the same channel (the hub's notification streams). Raises
    ``ValueError`` for anything else."""
    try:
        message = wire.decode(payload)
        if not isinstance(message, wire.BusControl):
            raise ProtocolError("not a control message")
        data = message.data
        keys, code, reason = data["keys"], data["code"], str(data.get("reason") or "")
        if data.get("action") != "close_matching" or not isinstance(keys, list):
            raise ProtocolError("unknown connections control message")
        if not _is_close_code(code):
            raise ProtocolError("bad close code")
        return [_check_key(key) for key in keys], code, reason
    except (ProtocolError, KeyError, TypeError) as exc:
        raise ValueError(str(exc)) from None


class CredentialCloser:
    def __init__(self, runtime: Runtime) -> None:
        self._rt = runtime
        # Every socket being served, from accept to close (any room, in admission or joined),
        # and the keys closed recently: key -> (monotonic time, close code, reason).
        self.live: set[Connection] = set()
        self.ended: dict[str, tuple[float, int, str]] = {}
        self._subscription: Subscription | None = None

    async def start(self) -> None:
        self._subscription = await self._rt.bus.subscribe(
            self._rt.connections_channel(), self._on_control
        )

    async def stop(self) -> None:
        if self._subscription is not None:
            with contextlib.suppress(Exception):
                await self._subscription.unsubscribe()

    async def close_matching(self, keys: Iterable[str], code: int, reason: str) -> int:
        """``RoomServer.close_matching``: close here, then tell every other process."""
        wanted, message = close_matching_message(keys, code, reason)
        if not wanted:
            return 0
        affected = self._close_local(wanted, code, reason)
        channel = self._rt.connections_channel()
        try:
            # Awaited: when this returns, the message is on its way to every other process.
            await self._rt.bus.publish(channel, message)
        except Exception as exc:
            self._rt.publish_failed(channel, exc)
        else:
            self._rt.publish_worked()
        return affected

    def refuse_ended(self, ctx: ConnectionContext, began: float) -> None:
        """After ``on_authenticate``: a key closed since ``began`` may have been checked
        before it ended (the close arrived while the handshake was in flight)."""
        for key in ctx.credentials:
            ended = self.ended.get(key)
            if ended is not None and ended[0] >= began:
                raise Reject(ended[1], ended[2])

    def _close_local(self, keys: Sequence[str], code: int, reason: str) -> int:
        now = time.monotonic()
        for key, (at, _, _) in list(self.ended.items()):
            if now - at > ENDED_KEYS_TTL:
                del self.ended[key]
        for key in keys:
            self.ended[key] = (now, code, reason)
        wanted = frozenset(keys)
        targets = [c for c in self.live if not c.closing and c.context.credentials & wanted]
        for conn in targets:
            conn.close(code, reason)
        return len(targets)

    async def _on_control(self, message: BusMessage) -> None:
        try:
            checked, code, reason = parse_close_matching(message.payload)
        except ValueError:
            log.warning("dropping malformed connections control message")
            return
        self._close_local(checked, code, reason)


def _is_close_code(code: object) -> bool:
    return isinstance(code, int) and not isinstance(code, bool) and 1000 <= code <= 4999


def _check_key(key: object) -> str:
    if not isinstance(key, str) or not 0 < len(key) <= MAX_KEY_LENGTH:
        raise ValueError(f"credential keys are strings of 1..{MAX_KEY_LENGTH} characters")
    return key
