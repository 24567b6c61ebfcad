"""Errors of the collab domain (rooms, members, invites). Each renders the one error shape; their
WebSocket counterparts are close codes (see :func:`close_code_for`)."""

from __future__ import annotations

from hub.errors import Conflict, ErrorCode, Forbidden, HubError, NotFound, Unauthenticated
from rooms import close_codes


class RoomNotFound(NotFound):
    """Missing, archived, or private and you are not a member: we do not say which."""

    default_message = "No such room."


class NotRoomOwner(Forbidden):
    default_message = "Only the room owner can do that."


class NotRoomMember(Forbidden):
    """The room is visible to the caller (public or unlisted) but what was asked is for members."""

    default_message = "Only the room's members can see that."


class RoomClosed(Conflict):
    code = ErrorCode.room_closed
    default_message = "The room is closed."


class RoomFull(Conflict):
    code = ErrorCode.room_full
    default_message = "The room has reached its member limit."


class NotAMember(Conflict):
    default_message = "That user is not a member of the room."


class OwnerCannotLeave(Conflict):
    default_message = "The owner cannot leave or be demoted; transfer the room first."


class InviteNotFound(NotFound):
    default_message = "This invite does not exist."


class InviteExpired(HubError):
    code = ErrorCode.invite_expired
    status = 410
    default_message = "This invite has expired."


class InviteRevoked(HubError):
    code = ErrorCode.invite_revoked
    status = 410
    default_message = "This invite was revoked by the room owner."


class InviteExhausted(HubError):
    code = ErrorCode.invite_exhausted
    status = 410
    default_message = "This invite has been used up."


def close_code_for(error: HubError) -> int:
    """The WebSocket close code matching an access error at a room handshake."""
    if isinstance(error, Unauthenticated):
        return close_codes.UNAUTHENTICATED
    if isinstance(error, RoomClosed):
        return close_codes.ROOM_CLOSED
    if isinstance(error, NotFound):
        return close_codes.NO_SUCH_ROOM
    if isinstance(error, RoomFull):
        return close_codes.ROOM_FULL
    return close_codes.FORBIDDEN
