"""Where media bytes live: a local directory or an S3-compatible bucket.

Both backends implement :class:`Storage` with the same observable behaviour (the test-suite runs
one set of behavioural tests over both). The package is split by concept; import from here:

* :mod:`.base` — the :class:`Storage` protocol, the key rules every backend applies
  (:func:`validate_key`), content types and :class:`ObjectStream`;
* :mod:`.local` — :class:`LocalStorage`, files under a directory;
* :mod:`.s3` — :class:`S3Storage`, an S3-compatible bucket.
"""

from hub.storage.backends.base import (
    DEFAULT_CHUNK_SIZE,
    MAX_KEY_BYTES,
    MAX_SEGMENT_BYTES,
    ObjectStream,
    Storage,
    guess_content_type,
    validate_key,
    validate_prefix,
)
from hub.storage.backends.local import LocalStorage
from hub.storage.backends.s3 import S3Storage

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "MAX_KEY_BYTES",
    "MAX_SEGMENT_BYTES",
    "LocalStorage",
    "ObjectStream",
    "S3Storage",
    "Storage",
    "guess_content_type",
    "validate_key",
    "validate_prefix",
]
