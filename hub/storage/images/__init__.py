"""Image processing with Pillow: upload validation, thumbnails, square crops and PNG metadata.

Every function here is synchronous and CPU-bound; the ``*_async`` wrappers run them on a small
dedicated thread pool so that a burst of uploads cannot block the event loop. The package is split
by concept; import from here:

* :mod:`.decoding` — opening untrusted bytes under the byte and pixel limits, the decode slots
  that bound memory, re-encoding, and :func:`validate_upload`;
* :mod:`.previews` — thumbnails and square crops;
* :mod:`.metadata` — the PNG text chunks that carry a generated image's prompt and parameters;
* :mod:`.pool` — the image thread pool behind the ``*_async`` functions.
"""

from hub.storage.images.decoding import (
    CONTENT_TYPES,
    DEFAULT_DECODE_CONCURRENCY,
    DEFAULT_MAX_PIXELS,
    DEFAULT_UPLOAD_FORMATS,
    EXTENSIONS,
    OUTPUT_FORMATS,
    EncodedImage,
    ValidatedImage,
    decode_concurrency,
    set_decode_concurrency,
    sniff_format,
    validate_upload,
    validate_upload_async,
)
from hub.storage.images.metadata import (
    NEGATIVE_KEY,
    PARAMETERS_KEY,
    PNG_SIGNATURE,
    PROMPT_KEY,
    PngMetadata,
    png_with_metadata,
    png_with_metadata_async,
    read_png_metadata,
)
from hub.storage.images.previews import (
    make_previews,
    make_previews_async,
    make_square,
    make_square_async,
    make_thumbnail,
    make_thumbnail_async,
)

__all__ = [
    "CONTENT_TYPES",
    "DEFAULT_DECODE_CONCURRENCY",
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_UPLOAD_FORMATS",
    "EXTENSIONS",
    "NEGATIVE_KEY",
    "OUTPUT_FORMATS",
    "PARAMETERS_KEY",
    "PNG_SIGNATURE",
    "PROMPT_KEY",
    "EncodedImage",
    "PngMetadata",
    "ValidatedImage",
    "decode_concurrency",
    "make_previews",
    "make_previews_async",
    "make_square",
    "make_square_async",
    "make_thumbnail",
    "make_thumbnail_async",
    "png_with_metadata",
    "png_with_metadata_async",
    "read_png_metadata",
    "set_decode_concurrency",
    "sniff_format",
    "validate_upload",
    "validate_upload_async",
]
