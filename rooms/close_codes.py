"""WebSocket close codes used by room sockets (y-websocket and the event stream).

1xxx codes are the standard ones from RFC 6455; 4xxx codes are ours and mirror the HTTP status
they resemble (4401 ~ 401, 4403 ~ 403, ...), so a client can map them to a message without a
table. docs/protocol.md lists them with the situations that produce them.
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

UNAUTHENTICATED: Final = 4401
FORBIDDEN: Final = 4403
NO_SUCH_ROOM: Final = 4404
SLOW_CONSUMER: Final = 4408  # outbound queue overflowed (client does not read fast enough)
KICKED: Final = 4409
ROOM_CLOSED: Final = 4410
ROOM_FULL: Final = 4413
RATE_LIMITED: Final = 4429

DESCRIPTIONS: Final[dict[int, str]] = {
    NORMAL: "normal closure",
    GOING_AWAY: "server going away",
    PROTOCOL_ERROR: "malformed y-websocket message",
    UNSUPPORTED_DATA: "unsupported data",
    POLICY_VIOLATION: "policy violation",
    MESSAGE_TOO_BIG: "message too big",
    INTERNAL_ERROR: "internal error",
    UNAUTHENTICATED: "authentication required",
    FORBIDDEN: "forbidden",
    NO_SUCH_ROOM: "no such room",
    SLOW_CONSUMER: "slow consumer",
    KICKED: "kicked",
    ROOM_CLOSED: "room closed",
    ROOM_FULL: "room full",
    RATE_LIMITED: "rate limited",
}


def describe(code: int) -> str:
    """Short human-readable reason for ``code`` (used as the close reason when none is given)."""
    return DESCRIPTIONS.get(code, "closed")
