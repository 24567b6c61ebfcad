"""Errors of the works domain. Each is a row of docs/errors.md through its code."""

from __future__ import annotations

from hub.errors import Conflict, Forbidden, NotFound


class WorkNotFound(NotFound):
    """Missing, deleted, hidden, or someone else's draft: we do not say which."""

    default_message = "No such work."


class NotWorkAuthor(Forbidden):
    default_message = "Only the author can change this work."


class CannotPublishImage(Forbidden):
    """The image is visible (a public room's) but the caller is neither its owner nor one of
    the room's editors."""

    default_message = "Only the image's owner or the room's editors can publish it."


class WorkNotPublished(Conflict):
    default_message = "The work is a draft; publish it first."


class WorkImageGone(Conflict):
    """A remix with ``use_image_as_source`` of a work whose images were all deleted."""

    default_message = "The work's images are gone; remix it without its image as the source."
