"""Errors of the forum. Missing, deleted and invisible things are one 404 (no existence leak)."""

from __future__ import annotations

from hub.errors import Conflict, NotFound, PayloadTooLarge


class CategoryNotFound(NotFound):
    default_message = "No such category."


class ThreadNotFound(NotFound):
    """Missing or deleted: we do not say which."""

    default_message = "No such thread."


class CommentNotFound(NotFound):
    default_message = "No such comment."


class ThreadLocked(Conflict):
    default_message = "The thread is locked; it takes no new comments or edits."


class CategoryInUse(Conflict):
    default_message = "The category still has threads; move or delete them first."


class CategoryExists(Conflict):
    default_message = "A category with this slug exists already."


class BodyTooLong(PayloadTooLarge):
    """A Markdown body over ``HUB_FORUM_MAX_BODY_CHARS`` (``details.limit``), whatever the size
    of the request around it."""

    default_message = "The text is too long."
