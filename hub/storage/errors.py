"""Errors raised by the storage backends and by upload validation.

:class:`UploadRejected` and :class:`ObjectNotFound` are expected failures and render through the
hub's one error shape; :class:`InvalidStorageKey` is a programming error (keys are built by
services, never taken verbatim from users), so it stays a plain ``ValueError`` and becomes a 500.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from hub.errors import ErrorCode, HubError, NotFound, PayloadTooLarge, Unavailable


class RejectReason(StrEnum):
    """Why an upload was refused; sent to clients as ``error.details.reason``."""

    too_large = "too_large"
    bad_format = "bad_format"
    too_many_pixels = "too_many_pixels"
    corrupt = "corrupt"


class UploadRejected(HubError):
    """An uploaded image failed validation; nothing was stored.

    ``code`` stays ``upload_rejected`` with status 422 for every cause (docs/errors.md); the
    specific cause is ``reason``, repeated in ``details["reason"]`` so clients can branch on it
    without parsing the message.
    """

    code = ErrorCode.upload_rejected
    status = 422
    default_message = "The uploaded file was rejected."

    def __init__(
        self, reason: RejectReason | str | None = None, message: str | None = None, **details: Any
    ) -> None:
        self.reason = RejectReason(reason) if reason is not None else None
        if self.reason is not None:
            details = {"reason": str(self.reason), **details}
        super().__init__(message, **details)


class ObjectNotFound(NotFound):
    """The storage backend has no object under this key."""

    default_message = "File not found."

    def __init__(self, key: str = "") -> None:
        # The key stays off the wire (it reveals the storage layout) but is kept for logs.
        self.key = key
        super().__init__()


class StorageUnavailable(Unavailable):
    """The storage backend could not be reached or failed on its side (S3 5xx, timeouts)."""

    default_message = "File storage is unavailable; try again shortly."


class InvalidStorageKey(ValueError):
    """A key is empty, too long, absolute, or could escape the storage root."""


class ArchiveTooLarge(PayloadTooLarge):
    """A "download selection" archive would exceed its size or entry limit."""

    default_message = "The selection is too large to download at once; select fewer files."


class ImageNotFound(NotFound):
    """No such image in your library (deleted, someone else's, or never existed)."""

    default_message = "Image not found."


class UploadNotFound(NotFound):
    """No such upload of yours."""

    default_message = "Upload not found."
