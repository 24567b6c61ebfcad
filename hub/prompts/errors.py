"""Errors of the prompt library. Each renders the one error shape (docs/errors.md)."""

from __future__ import annotations

from hub.errors import Forbidden, NotFound


class PromptNotFound(NotFound):
    """Missing, deleted, or private and not yours: we do not say which."""

    default_message = "No such prompt."


class NotPromptAuthor(Forbidden):
    default_message = "Only the prompt's author can change it."


class VersionNotFound(NotFound):
    default_message = "The prompt has no such version."


class RoomEditorsOnly(Forbidden):
    default_message = "Only the room's editors and its owner can fill it from a template."
