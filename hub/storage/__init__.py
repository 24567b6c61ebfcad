"""Media storage (local directory or S3) and image processing (validation, thumbnails, metadata).

Standalone on purpose: nothing here reads settings or the database. The app builds a backend
from its settings with :class:`LocalStorage` or :class:`S3Storage` and passes it down.
See docs/storage.md.
"""

from hub.storage.archive import ZipArchive, ZipEntry, build_zip, safe_zip_names, zip_stream
from hub.storage.backends import (
    LocalStorage,
    ObjectStream,
    S3Storage,
    Storage,
    validate_key,
    validate_prefix,
)
from hub.storage.errors import (
    ArchiveTooLarge,
    InvalidStorageKey,
    ObjectNotFound,
    RejectReason,
    StorageUnavailable,
    UploadRejected,
)
from hub.storage.images import (
    EncodedImage,
    PngMetadata,
    ValidatedImage,
    make_square,
    make_square_async,
    make_thumbnail,
    make_thumbnail_async,
    png_with_metadata,
    png_with_metadata_async,
    read_png_metadata,
    validate_upload,
    validate_upload_async,
)

__all__ = [
    "ArchiveTooLarge",
    "EncodedImage",
    "InvalidStorageKey",
    "LocalStorage",
    "ObjectNotFound",
    "ObjectStream",
    "PngMetadata",
    "RejectReason",
    "S3Storage",
    "Storage",
    "StorageUnavailable",
    "UploadRejected",
    "ValidatedImage",
    "ZipArchive",
    "ZipEntry",
    "build_zip",
    "make_square",
    "make_square_async",
    "make_thumbnail",
    "make_thumbnail_async",
    "png_with_metadata",
    "png_with_metadata_async",
    "read_png_metadata",
    "safe_zip_names",
    "validate_key",
    "validate_prefix",
    "validate_upload",
    "validate_upload_async",
    "zip_stream",
]
