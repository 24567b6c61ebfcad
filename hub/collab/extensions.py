"""The hub's extension to the realtime core: who may join a room socket, with which role.

``on_authenticate`` runs after the socket was accepted (the Origin was checked before), so a
refusal reaches the client as a close code: 4401 when signing in would help, 4404 for rooms that
do not exist or are private to others, 4410 for closed rooms. The credentials are those of the
handshake: ``?token=`` (access or personal token; stock y-websocket clients pass params in the
query) or the session cookie a browser sends along. The socket remembers that credential
(``hub.accounts.credentials.actor_keys``): when it ends, the socket closes with 4401.

The socket's Starlette ``WebSocket`` reaches the hook through a context variable set by the hub's
endpoint (``hub.collab.routes``): the core calls hooks in the socket's own task, and the
accounts API authenticates from the connection, not from raw headers.
"""

from __future__ import annotations

import contextvars
import logging
from typing import TYPE_CHECKING

from starlette.requests import HTTPConnection

from hub.accounts.credentials import actor_keys
from hub.accounts.deps import Actor, authenticate_websocket
from hub.collab.access import socket_role
from hub.collab.errors import close_code_for
from hub.collab.store import CHAT_EVENT
from hub.errors import HubError, database_unavailable
from rooms import close_codes
from rooms.hooks import AuthenticatePayload, Extension, Reject, RoomEventPayload
from rooms.types import ConnectionContext, Role

if TYPE_CHECKING:
    from hub.context import HubContext

log = logging.getLogger(__name__)

HANDSHAKE: contextvars.ContextVar[HTTPConnection] = contextvars.ContextVar("room_handshake")

GUEST_NAME = "Guest"


def actor_user_id(ctx: ConnectionContext) -> int | None:
    """The hub user id of a socket (None for visitors who are not signed in)."""
    value = ctx.data.get("hub_user_id")
    return value if isinstance(value, int) else None


class HubRoomsExtension(Extension):
    # Runs before any other extension: nothing else should see an unauthenticated socket.
    priority = 1000

    def __init__(self, ctx: HubContext) -> None:
        self.ctx = ctx

    async def on_authenticate(self, payload: AuthenticatePayload) -> None:
        conn = HANDSHAKE.get(None)
        if conn is None:
            # Served without the hub's endpoint: there is nothing to authenticate with.
            raise Reject(close_codes.UNAUTHENTICATED, "no handshake to authenticate")
        try:
            actor: Actor | None = await authenticate_websocket(conn, payload.token)
            if actor is None and payload.token:
                # A token that does not verify is an error, not an anonymous visit.
                raise Reject(close_codes.UNAUTHENTICATED, "invalid token")
            if actor is not None:
                # Ending this credential (logout, revocation, ...) closes the socket.
                payload.connection.credentials = actor_keys(actor)
            async with self.ctx.db.unit_of_work() as session:
                role = await socket_role(session, actor, payload.room_id)
        except HubError as error:
            raise Reject(close_code_for(error), error.message) from None
        except Exception as exc:
            if not database_unavailable(exc):
                raise
            # Transient: stock clients retry after 1013 (and never after a 44xx).
            log.warning("socket refused, database unavailable: %s", type(exc).__name__)
            raise Reject(close_codes.TRY_AGAIN_LATER, "database unavailable") from None
        connection = payload.connection
        if actor is None:
            connection.role = Role.VIEWER
            connection.display_name = GUEST_NAME
            return
        connection.authenticate(
            user_id=str(actor.user_id), display_name=actor.display_name, role=role
        )
        connection.data["hub_user_id"] = actor.user_id

    async def on_room_event(self, payload: RoomEventPayload) -> None:
        connection = payload.connection
        if connection is None or payload.type != CHAT_EVENT:
            return  # server-side events (jobs, notices) are always allowed
        if not connection.authenticated:
            raise Reject(close_codes.FORBIDDEN, "sign in to chat")
