"""WebSocket close codes used by room sockets (y-websocket and the event stream).

1xxx codes are the standard ones from RFC 6455; 4xxx codes are ours and mirror the HTTP status
they resemble, in two ranges that stock y-websocket clients (3.x, ``defaultShouldReconnect``)
treat differently (ADR 0009):

* **44xx, permanent**: the client stops reconnecting for good (4401 ~ 401, 4403 ~ 403, ...).
  Only for decisions that retrying cannot change: credentials, permissions, a missing, closed
  or full room, a kick.
* **45xx, transient**: the client reconnects with backoff and resyncs by state vector, so nothing
  is lost (4508 ~ 408, 4529 ~ 429). For conditions that pass: a slow reader, a brief flood.

Every other code (1xxx) is retried by stock clients too. docs/protocol.md lists them with the
situations that produce them.
"""

from __future__ import annotations

from typing import Final

NORMAL: Final = 1000
GOING_AWAY: Final = 1001  # the server shuts down
PROTOCOL_ERROR: Final = 1002  # malformed y-websocket framing
UNSUPPORTED_DATA: Final = 1003  # wrong frame type, invalid JSON, unknown event, bad CRDT update
POLICY_VIOLATION: Final = 1008
MESSAGE_TOO_BIG: Final = 1009
INTERNAL_ERROR: Final = 1011
TRY_AGAIN_LATER: Final = 1013  # too many handshakes at once; stock clients retry with backoff

# Permanent: stock clients never reconnect after these.
UNAUTHENTICATED: Final = 4401
FORBIDDEN: Final = 4403
NO_SUCH_ROOM: Final = 4404
KICKED: Final = 4409
ROOM_CLOSED: Final = 4410
ROOM_FULL: Final = 4413

# Transient: stock clients reconnect (backoff 100 ms doubling, at most 2.5 s) and resync.
SLOW_CONSUMER: Final = 4508  # outbound queue overflowed (client does not read fast enough)
RATE_LIMITED: Final = 4529  # more messages than the per-socket rate limit

DESCRIPTIONS: Final[dict[int, str]] = {
    NORMAL: "normal closure",
    GOING_AWAY: "server going away",
    PROTOCOL_ERROR: "malformed y-websocket message",
    UNSUPPORTED_DATA: "unsupported data",
    POLICY_VIOLATION: "policy violation",
    MESSAGE_TOO_BIG: "message too big",
    INTERNAL_ERROR: "internal error",
    TRY_AGAIN_LATER: "try again later",
    UNAUTHENTICATED: "authentication required",
    FORBIDDEN: "forbidden",
    NO_SUCH_ROOM: "no such room",
    KICKED: "kicked",
    ROOM_CLOSED: "room closed",
    ROOM_FULL: "room full",
    SLOW_CONSUMER: "slow consumer",
    RATE_LIMITED: "rate limited",
}


def describe(code: int) -> str:
    """Short human-readable reason for ``code`` (used as the close reason when none is given)."""
    return DESCRIPTIONS.get(code, "closed")


def stops_stock_clients(code: int) -> bool:
    """Whether a stock y-websocket client (3.x) gives up for good after ``code``: exactly the
    4400-4499 range (tests/interop/test_yclient.py pins this against the real client)."""
    return 4400 <= code < 4500
