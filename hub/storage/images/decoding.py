"""Opening untrusted image bytes under the limits, decoding them, re-encoding: upload validation.

Memory is what a decode costs (4 bytes a pixel: a 16 Mpx RGBA image is 64 MB decoded, whatever its
file size), so every function that decodes holds one of a process-wide number of decode slots
(:func:`set_decode_concurrency`, ``HUB_IMAGE_DECODE_CONCURRENCY``) from the decode until its
pixels are released, and decodes each image once, in place (no orientation copy).

Untrusted bytes are only ever opened with an explicit format allow-list, after the byte-size check,
and their pixel count is checked against the caller's limit before any pixel data is decoded.
"""

from __future__ import annotations

import hashlib
import io
import struct
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from hub.storage.errors import RejectReason, UploadRejected
from hub.storage.images.pool import run_on_pool

OUTPUT_FORMATS: Final = ("PNG", "JPEG", "WEBP")
DEFAULT_UPLOAD_FORMATS: Final = ("PNG", "JPEG", "WEBP")
DEFAULT_MAX_PIXELS: Final = 40_000_000
CONTENT_TYPES: Final = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
EXTENSIONS: Final = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}

DEFAULT_DECODE_CONCURRENCY: Final = 2

# Everything Pillow may raise while parsing a hostile or damaged file.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError, KeyError)


# --- decode slots -----------------------------------------------------------------------------

_decode_slots = threading.BoundedSemaphore(DEFAULT_DECODE_CONCURRENCY)
_decode_limit = DEFAULT_DECODE_CONCURRENCY


def set_decode_concurrency(limit: int) -> None:
    """Allow at most ``limit`` images to be decoded at once in this process (all callers, all
    apps: memory is per process). Decodes already holding a slot finish under the old limit."""
    global _decode_slots, _decode_limit
    if limit < 1:
        raise ValueError("the decode concurrency must be at least 1")
    if limit != _decode_limit:
        _decode_slots, _decode_limit = threading.BoundedSemaphore(limit), limit


def decode_concurrency() -> int:
    return _decode_limit


@contextmanager
def decode_slot() -> Iterator[None]:
    """Hold one decode slot (blocking this thread until one is free)."""
    slots = _decode_slots  # release the semaphore that was acquired, even if it was replaced
    with slots:
        yield


# --- results ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EncodedImage:
    """Freshly encoded image bytes (no metadata except an ICC colour profile)."""

    data: bytes
    format: str  # "PNG" | "JPEG" | "WEBP"
    width: int
    height: int

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.format]

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.format]

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True, slots=True)
class ValidatedImage(EncodedImage):
    """An accepted upload, already re-encoded; ``data`` is what should be stored."""

    source_format: str = ""
    source_frames: int = 1


# --- format sniffing --------------------------------------------------------------------------

_ISO_BMFF_BRANDS: Final = {
    b"avif": "AVIF",
    b"avis": "AVIF",
    b"heic": "HEIC",
    b"heix": "HEIC",
    b"hevc": "HEIC",
    b"mif1": "HEIF",
    b"msf1": "HEIF",
}


def sniff_format(data: bytes) -> str | None:
    """Name the image format from its magic bytes, without parsing anything.

    The signatures for PNG, JPEG and WebP are exactly the ones Pillow's plugins accept, so a file
    sniffed as an allowed format is only ever handed to that format's decoder.
    """
    head = data[:32]
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if head[:2] == b"BM":
        return "BMP"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    if head[:4] == b"\x00\x00\x01\x00":
        return "ICO"
    if head[:4] == b"8BPS":
        return "PSD"
    if head[:4] == b"qoif":
        return "QOI"
    if head[4:8] == b"ftyp" and head[8:12] in _ISO_BMFF_BRANDS:
        return _ISO_BMFF_BRANDS[head[8:12]]
    if head[:5] == b"%PDF-":
        return "PDF"
    text_head = data[:512].lstrip().lower()
    if text_head.startswith((b"<svg", b"<?xml")) and b"<svg" in text_head:
        return "SVG"
    return None


# --- opening and encoding ---------------------------------------------------------------------


def normalise_formats(formats: Sequence[str]) -> tuple[str, ...]:
    normalised = tuple(f.upper() for f in formats)
    unknown = [f for f in normalised if f not in OUTPUT_FORMATS]
    if unknown or not normalised:
        raise ValueError(f"formats must be a non-empty subset of {OUTPUT_FORMATS}, got {formats!r}")
    return normalised


def open_checked(data: bytes, *, formats: tuple[str, ...], max_pixels: int) -> ImageFile.ImageFile:
    """Open the header only, enforce the allow-list and the pixel limit; nothing is decoded yet."""
    sniffed = sniff_format(data)
    if sniffed not in formats:
        allowed = ", ".join(formats)
        if sniffed is None:
            message = f"The file is not a recognised image; send {allowed}."
        else:
            message = f"{sniffed} images are not accepted; send {allowed}."
        raise UploadRejected(RejectReason.bad_format, message, detected=sniffed, allowed=allowed)
    try:
        image = Image.open(io.BytesIO(data), formats=[sniffed])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        # Pillow's own limits (it raises above 2x MAX_IMAGE_PIXELS, warns above 1x; the warning
        # arrives here as an exception where warnings are errors): always above ours in practice.
        raise UploadRejected(
            RejectReason.too_many_pixels,
            f"The image has too many pixels (limit {max_pixels}).",
            max_pixels=max_pixels,
        ) from None
    except (UnidentifiedImageError, *_DECODE_ERRORS):
        raise UploadRejected(
            RejectReason.corrupt, f"The {sniffed} file is damaged and cannot be read."
        ) from None
    width, height = image.size
    if width <= 0 or height <= 0 or width * height > max_pixels:
        image.close()
        raise UploadRejected(
            RejectReason.too_many_pixels,
            f"The image is {width}x{height} pixels; at most {max_pixels} pixels are accepted.",
            width=width,
            height=height,
            max_pixels=max_pixels,
        )
    return image


def load_upright(image: ImageFile.ImageFile, draft_size: tuple[int, int] | None) -> Image.Image:
    """Decode the first frame and apply its EXIF orientation, in place: ``image`` (opened by us
    from our own buffer) becomes the upright pixels, so no second full-size copy is made unless
    the orientation asks for a rotation. Call with a decode slot held."""
    try:
        if draft_size is not None and image.format == "JPEG":
            # Let libjpeg decode at 1/2, 1/4 or 1/8 scale when the result is going to be small;
            # the draft keeps both sides >= draft_size so quality is not lost.
            image.draft(None, draft_size)
        image.seek(0)
        image.load()
        ImageOps.exif_transpose(image, in_place=True)
    except _DECODE_ERRORS:
        raise UploadRejected(
            RejectReason.corrupt,
            f"The {image.format} file is damaged or truncated and cannot be decoded.",
        ) from None
    return image


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info


_KEEP_MODES: Final = {
    "PNG": {"1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16"},
    "JPEG": {"L", "RGB"},
    "WEBP": {"RGB", "RGBA"},
}


def _for_format(image: Image.Image, fmt: str) -> Image.Image:
    """Convert to a mode ``fmt`` can store without surprises."""
    alpha = _has_alpha(image)
    if image.mode in _KEEP_MODES[fmt] and "transparency" not in image.info:
        return image
    if fmt == "JPEG":
        if alpha:
            # JPEG has no alpha: flatten on white rather than letting transparent pixels turn black.
            rgba = image.convert("RGBA")
            background = Image.new("RGB", rgba.size, (255, 255, 255))
            background.paste(rgba, mask=rgba.getchannel("A"))
            return background
        return image.convert("L" if image.mode in ("1", "L", "I", "I;16") else "RGB")
    if fmt == "PNG" and image.mode in ("L", "1", "I", "I;16") and alpha:
        return image.convert("LA")
    return image.convert("RGBA" if alpha else "RGB")


def encode(image: Image.Image, fmt: str, *, quality: int, icc_profile: bytes | None) -> bytes:
    converted = _for_format(image, fmt)
    # Encoders pick up EXIF/XMP/text left in ``info`` (and convert() copies it): start clean.
    # ``image`` is always our own object (decoded from our buffer, a resize or a conversion).
    converted.info = {}
    params: dict[str, Any] = {}
    if icc_profile:
        params["icc_profile"] = icc_profile
    buffer = io.BytesIO()
    if fmt == "PNG":
        converted.save(buffer, "PNG", compress_level=6, **params)
    elif fmt == "JPEG":
        converted.save(buffer, "JPEG", quality=quality, **params)
    else:
        converted.save(buffer, "WEBP", quality=quality, method=4, **params)
    return buffer.getvalue()


def icc_of(image: Image.Image) -> bytes | None:
    profile = image.info.get("icc_profile")
    return profile if isinstance(profile, bytes) and profile else None


# --- upload validation ------------------------------------------------------------------------


def validate_upload(
    data: bytes,
    *,
    max_bytes: int,
    max_pixels: int,
    formats: Sequence[str] = DEFAULT_UPLOAD_FORMATS,
    output_format: str | None = None,
    quality: int = 90,
) -> ValidatedImage:
    """Accept an uploaded image or raise :class:`UploadRejected`.

    Checks, in this order: byte size (``too_large``); magic bytes against ``formats``
    (``bad_format``, also for non-images); header dimensions against ``max_pixels`` before decoding
    (``too_many_pixels``); a full decode of the first frame (``corrupt`` for damaged or truncated
    files). The result is re-encoded from pixels: EXIF (after applying its orientation), XMP, text
    chunks, comments and extra frames are gone; only an ICC profile survives. ``output_format``
    defaults to the source format.
    """
    if max_bytes <= 0 or max_pixels <= 0:
        raise ValueError("max_bytes and max_pixels must be positive")
    allowed = normalise_formats(formats)
    if len(data) > max_bytes:
        raise UploadRejected(
            RejectReason.too_large,
            f"The file is {len(data)} bytes; at most {max_bytes} bytes are accepted.",
            size=len(data),
            max_bytes=max_bytes,
        )
    if not data:
        raise UploadRejected(RejectReason.bad_format, "The file is empty.")
    with open_checked(data, formats=allowed, max_pixels=max_pixels) as source:
        source_format = str(source.format)
        frames = int(getattr(source, "n_frames", 1) or 1)
        target = output_format.upper() if output_format else source_format
        normalise_formats([target])
        with decode_slot():
            upright = load_upright(source, None)
            icc = icc_of(upright)
            width, height = upright.size
            encoded = encode(upright, target, quality=quality, icc_profile=icc)
            upright.close()
    return ValidatedImage(
        data=encoded,
        format=target,
        width=width,
        height=height,
        source_format=source_format,
        source_frames=frames,
    )


async def validate_upload_async(
    data: bytes,
    *,
    max_bytes: int,
    max_pixels: int,
    formats: Sequence[str] = DEFAULT_UPLOAD_FORMATS,
    output_format: str | None = None,
    quality: int = 90,
) -> ValidatedImage:
    """:func:`validate_upload` on the image thread pool."""
    if len(data) > max_bytes > 0:
        # Cheap rejection needs no thread hop.
        return validate_upload(data, max_bytes=max_bytes, max_pixels=max_pixels, formats=formats)
    return await run_on_pool(
        validate_upload,
        data,
        max_bytes=max_bytes,
        max_pixels=max_pixels,
        formats=formats,
        output_format=output_format,
        quality=quality,
    )
