"""Image processing with Pillow: upload validation, thumbnails, square crops and PNG metadata.

Every function here is synchronous and CPU-bound; the ``*_async`` wrappers run them on a small
dedicated thread pool so that a burst of uploads cannot block the event loop. Memory is what a
decode costs (4 bytes a pixel: a 16 Mpx RGBA image is 64 MB decoded, whatever its file size), so
every function that decodes holds one of a process-wide number of decode slots
(:func:`set_decode_concurrency`, ``HUB_IMAGE_DECODE_CONCURRENCY``) from the decode until its
pixels are released, and decodes each image once, in place (no orientation copy).

Untrusted bytes are only ever opened with an explicit format allow-list, after the byte-size check,
and their pixel count is checked against the caller's limit before any pixel data is decoded.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import io
import json
import os
import struct
import threading
import zlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final, ParamSpec, TypeVar

from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from hub.storage.errors import RejectReason, UploadRejected
from rooms import jsontext

OUTPUT_FORMATS: Final = ("PNG", "JPEG", "WEBP")
DEFAULT_UPLOAD_FORMATS: Final = ("PNG", "JPEG", "WEBP")
DEFAULT_MAX_PIXELS: Final = 40_000_000
CONTENT_TYPES: Final = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
EXTENSIONS: Final = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}

DEFAULT_DECODE_CONCURRENCY: Final = 2

# Everything Pillow may raise while parsing a hostile or damaged file.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError, KeyError)


# --- decode slots ------------------------------------------------------------------------------

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
def _decode_slot() -> Iterator[None]:
    """Hold one decode slot (blocking this thread until one is free)."""
    slots = _decode_slots  # release the semaphore that was acquired, even if it was replaced
    with slots:
        yield


# --- results -----------------------------------------------------------------------------------


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


# --- format sniffing ---------------------------------------------------------------------------

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


# --- opening and encoding ----------------------------------------------------------------------


def _normalise_formats(formats: Sequence[str]) -> tuple[str, ...]:
    normalised = tuple(f.upper() for f in formats)
    unknown = [f for f in normalised if f not in OUTPUT_FORMATS]
    if unknown or not normalised:
        raise ValueError(f"formats must be a non-empty subset of {OUTPUT_FORMATS}, got {formats!r}")
    return normalised


def _open_checked(data: bytes, *, formats: tuple[str, ...], max_pixels: int) -> ImageFile.ImageFile:
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


def _load_upright(image: ImageFile.ImageFile, draft_size: tuple[int, int] | None) -> Image.Image:
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


def _encode(image: Image.Image, fmt: str, *, quality: int, icc_profile: bytes | None) -> bytes:
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


def _icc(image: Image.Image) -> bytes | None:
    profile = image.info.get("icc_profile")
    return profile if isinstance(profile, bytes) and profile else None


# --- public API --------------------------------------------------------------------------------


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
    allowed = _normalise_formats(formats)
    if len(data) > max_bytes:
        raise UploadRejected(
            RejectReason.too_large,
            f"The file is {len(data)} bytes; at most {max_bytes} bytes are accepted.",
            size=len(data),
            max_bytes=max_bytes,
        )
    if not data:
        raise UploadRejected(RejectReason.bad_format, "The file is empty.")
    with _open_checked(data, formats=allowed, max_pixels=max_pixels) as source:
        source_format = str(source.format)
        frames = int(getattr(source, "n_frames", 1) or 1)
        target = output_format.upper() if output_format else source_format
        _normalise_formats([target])
        with _decode_slot():
            upright = _load_upright(source, None)
            icc = _icc(upright)
            width, height = upright.size
            encoded = _encode(upright, target, quality=quality, icc_profile=icc)
            upright.close()
    return ValidatedImage(
        data=encoded,
        format=target,
        width=width,
        height=height,
        source_format=source_format,
        source_frames=frames,
    )


def make_thumbnail(
    data: bytes,
    max_side: int = 512,
    *,
    output_format: str = "WEBP",
    quality: int = 82,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> EncodedImage:
    """Scale down (never up) so the longer side is at most ``max_side``, keeping aspect ratio."""
    if max_side <= 0:
        raise ValueError("max_side must be positive")
    fmt = _normalise_formats([output_format])[0]
    with _open_checked(data, formats=OUTPUT_FORMATS, max_pixels=max_pixels) as source:
        with _decode_slot():
            image = _load_upright(source, (max_side, max_side))
            icc = _icc(image)
            _shrink(image, max_side)
        encoded = _encode(image, fmt, quality=quality, icc_profile=icc)
        return EncodedImage(encoded, fmt, image.width, image.height)


def _shrink(image: Image.Image, max_side: int) -> None:
    """Scale down in place (never up) so the longer side is at most ``max_side``: whole-factor
    ``reduce()`` first (Pillow's ``reducing_gap``), then LANCZOS; the full-size pixels go."""
    image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS, reducing_gap=2.0)


def _square(image: Image.Image, side: int) -> Image.Image:
    """Centre crop to a square, resized to ``side`` (reduced by whole factors first)."""
    width, height = image.size
    crop = min(width, height)
    left, top = (width - crop) / 2, (height - crop) / 2
    box = (left, top, left + crop, top + crop)
    gap = 2.0 if crop > side else None
    return image.resize((side, side), Image.Resampling.LANCZOS, box=box, reducing_gap=gap)


def make_square(
    data: bytes,
    side: int = 200,
    *,
    output_format: str = "WEBP",
    quality: int = 85,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> EncodedImage:
    """Centre-crop to a square and resize to exactly ``side`` x ``side`` (avatars, cards).

    Images smaller than ``side`` are scaled up so the output size is always the same.
    """
    if side <= 0:
        raise ValueError("side must be positive")
    fmt = _normalise_formats([output_format])[0]
    with (
        _open_checked(data, formats=OUTPUT_FORMATS, max_pixels=max_pixels) as source,
        _decode_slot(),
    ):
        image = _load_upright(source, (side, side))
        icc = _icc(image)
        square = _square(image, side)
        source.close()  # the pixels go before the slot does
    encoded = _encode(square, fmt, quality=quality, icc_profile=icc)
    return EncodedImage(encoded, fmt, side, side)


def make_previews(
    data: bytes,
    *,
    thumb_side: int = 512,
    square_side: int = 200,
    output_format: str = "WEBP",
    thumb_quality: int = 82,
    square_quality: int = 85,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> tuple[EncodedImage, EncodedImage]:
    """:func:`make_thumbnail` and :func:`make_square` of one image from a single decode."""
    if thumb_side <= 0 or square_side <= 0:
        raise ValueError("thumb_side and square_side must be positive")
    fmt = _normalise_formats([output_format])[0]
    draft = max(thumb_side, square_side)
    with _open_checked(data, formats=OUTPUT_FORMATS, max_pixels=max_pixels) as source:
        with _decode_slot():
            thumb = _load_upright(source, (draft, draft))
            icc = _icc(thumb)
            square = _square(thumb, square_side)
            _shrink(thumb, thumb_side)
        return (
            EncodedImage(
                _encode(thumb, fmt, quality=thumb_quality, icc_profile=icc),
                fmt,
                thumb.width,
                thumb.height,
            ),
            EncodedImage(
                _encode(square, fmt, quality=square_quality, icc_profile=icc),
                fmt,
                square_side,
                square_side,
            ),
        )


# --- PNG text metadata -------------------------------------------------------------------------

PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
PROMPT_KEY: Final = "prompt"
NEGATIVE_KEY: Final = "negative_prompt"
PARAMETERS_KEY: Final = "parameters"
_MAX_TEXT_BYTES: Final = 1 << 20  # per decompressed text chunk, like Pillow's MAX_TEXT_CHUNK
_COMPRESS_TEXT_OVER: Final = 4096
# Chunks that carry pixels, colour or animation; everything else (text, EXIF, time stamps, private
# chunks such as a provider's workflow dump) is dropped so the published file says only what we
# wrote into it.
_KEEP_CHUNKS: Final = {
    b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"sBIT",
    b"pHYs", b"bKGD", b"cICP", b"mDCV", b"cLLI", b"acTL", b"fcTL", b"fdAT",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class PngMetadata:
    prompt: str | None = None
    negative_prompt: str | None = None
    parameters: dict[str, Any] | None = None
    text: dict[str, str] = field(default_factory=dict)  # every text chunk, raw


def _iter_chunks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """Yield ``(type, payload)`` up to and including IEND; raise ValueError on damage."""
    if not data.startswith(PNG_SIGNATURE):
        raise ValueError("not a PNG file")
    offset = len(PNG_SIGNATURE)
    first = True
    while True:
        if offset + 8 > len(data):
            raise ValueError("truncated PNG: missing IEND")
        length, chunk_type = struct.unpack(">I4s", data[offset : offset + 8])
        end = offset + 8 + length + 4
        if length > 0x7FFFFFFF or end > len(data):
            raise ValueError(f"truncated PNG chunk {chunk_type!r}")
        payload = data[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", data[end - 4 : end])
        if zlib.crc32(chunk_type + payload) != crc:
            raise ValueError(f"PNG chunk {chunk_type!r} fails its CRC check")
        if first and chunk_type != b"IHDR":
            raise ValueError("PNG does not start with IHDR")
        first = False
        yield chunk_type, payload
        if chunk_type == b"IEND":
            return
        offset = end


def _chunk(chunk_type: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + chunk_type
        + payload
        + struct.pack(">I", zlib.crc32(chunk_type + payload))
    )


def _text_chunk(key: str, value: str) -> bytes:
    keyword = key.encode("latin-1")
    value = value.replace("\x00", "")  # NUL is the field separator; it carries no meaning in text
    compress = len(value) > _COMPRESS_TEXT_OVER
    if value.isascii():
        if compress:
            return _chunk(b"zTXt", keyword + b"\x00\x00" + zlib.compress(value.encode("ascii")))
        return _chunk(b"tEXt", keyword + b"\x00" + value.encode("ascii"))
    # iTXt carries UTF-8 (tEXt is Latin-1 only): Chinese prompts need it.
    text = value.encode("utf-8")
    flag = b"\x01\x00" if compress else b"\x00\x00"
    body = zlib.compress(text) if compress else text
    return _chunk(b"iTXt", keyword + b"\x00" + flag + b"\x00" + b"\x00" + body)


def _inflate(payload: bytes) -> bytes:
    inflater = zlib.decompressobj()
    out = inflater.decompress(payload, _MAX_TEXT_BYTES + 1)
    if len(out) > _MAX_TEXT_BYTES:
        raise ValueError("PNG text chunk inflates beyond the limit")
    return out


def _decode_text(chunk_type: bytes, payload: bytes) -> tuple[str, str] | None:
    try:
        keyword, _, rest = payload.partition(b"\x00")
        key = keyword.decode("latin-1")
        if chunk_type == b"tEXt":
            return key, rest.decode("latin-1")
        if chunk_type == b"zTXt":
            return key, _inflate(rest[1:]).decode("latin-1")
        # iTXt: compression flag, method, language\0, translated keyword\0, text
        compressed = rest[:1] == b"\x01"
        _language, _, rest = rest[2:].partition(b"\x00")
        _translated, _, text = rest.partition(b"\x00")
        return key, (_inflate(text) if compressed else text).decode("utf-8")
    except (ValueError, zlib.error, UnicodeDecodeError):
        return None  # one damaged text chunk should not hide the others


def _png_bytes(data: bytes, max_pixels: int) -> bytes:
    if data.startswith(PNG_SIGNATURE):
        return data
    with (
        _open_checked(data, formats=OUTPUT_FORMATS, max_pixels=max_pixels) as source,
        _decode_slot(),
    ):
        image = _load_upright(source, None)
        png = _encode(image, "PNG", quality=100, icc_profile=_icc(image))
        source.close()  # the pixels go before the slot does
        return png


def png_with_metadata(
    data: bytes,
    *,
    prompt: str,
    negative: str = "",
    params: dict[str, Any] | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> bytes:
    """Return a PNG of ``data`` carrying ``prompt``, ``negative_prompt`` and ``parameters``.

    PNG input is edited at the chunk level (pixels are copied, not re-encoded); other formats are
    converted to PNG first. Existing text, EXIF and private chunks are removed. ``parameters`` is
    ``params`` as JSON (UTF-8, sorted keys). ASCII values go in ``tEXt``, others in ``iTXt``, long
    ones compressed. Raises ``ValueError`` for damaged input or non-JSON-serialisable params.
    """
    png = _png_bytes(data, max_pixels)
    parameters = json.dumps(
        params or {}, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False
    )
    text = (
        _text_chunk(PROMPT_KEY, prompt)
        + _text_chunk(NEGATIVE_KEY, negative)
        + _text_chunk(PARAMETERS_KEY, parameters)
    )
    out = [PNG_SIGNATURE]
    for chunk_type, payload in _iter_chunks(png):
        if chunk_type in _KEEP_CHUNKS:
            out.append(_chunk(chunk_type, payload))
        if chunk_type == b"IHDR":
            # Right after IHDR, so readers that stop at the first IDAT still find it.
            out.append(text)
    return b"".join(out)


def read_png_metadata(data: bytes) -> PngMetadata:
    """Read the text chunks written by :func:`png_with_metadata` (or by other tools).

    Raises ``ValueError`` if ``data`` is not an intact PNG. ``parameters`` is ``None`` when the
    chunk is absent or not a JSON object (other tools store free text there; it stays in ``text``).
    """
    text: dict[str, str] = {}
    for chunk_type, payload in _iter_chunks(data):
        if chunk_type in (b"tEXt", b"zTXt", b"iTXt"):
            decoded = _decode_text(chunk_type, payload)
            if decoded is not None and decoded[0] not in text:
                text[decoded[0]] = decoded[1]
    parameters: dict[str, Any] | None = None
    if PARAMETERS_KEY in text:
        try:
            # The file comes from outside: depth-limited (JSONTooDeep is a ValueError).
            loaded = jsontext.loads(text[PARAMETERS_KEY])
        except ValueError:
            loaded = None
        parameters = loaded if isinstance(loaded, dict) else None
    return PngMetadata(
        prompt=text.get(PROMPT_KEY),
        negative_prompt=text.get(NEGATIVE_KEY),
        parameters=parameters,
        text=text,
    )


# --- off the event loop ------------------------------------------------------------------------

_P = ParamSpec("_P")
_T = TypeVar("_T")
_executor: ThreadPoolExecutor | None = None


def _image_executor() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        # Pillow releases the GIL while decoding and encoding, so about one worker per core is
        # useful; the decode slots, not the pool size, bound how many images are in memory.
        _executor = ThreadPoolExecutor(
            max_workers=max(2, min(4, os.cpu_count() or 1)), thread_name_prefix="hub-images"
        )
    return _executor


async def _run(func: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_image_executor(), functools.partial(func, *args, **kwargs))


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
    return await _run(
        validate_upload,
        data,
        max_bytes=max_bytes,
        max_pixels=max_pixels,
        formats=formats,
        output_format=output_format,
        quality=quality,
    )


async def make_thumbnail_async(
    data: bytes,
    max_side: int = 512,
    *,
    output_format: str = "WEBP",
    quality: int = 82,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> EncodedImage:
    """:func:`make_thumbnail` on the image thread pool."""
    return await _run(
        make_thumbnail,
        data,
        max_side,
        output_format=output_format,
        quality=quality,
        max_pixels=max_pixels,
    )


async def make_square_async(
    data: bytes,
    side: int = 200,
    *,
    output_format: str = "WEBP",
    quality: int = 85,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> EncodedImage:
    """:func:`make_square` on the image thread pool."""
    return await _run(
        make_square, data, side, output_format=output_format, quality=quality, max_pixels=max_pixels
    )


async def make_previews_async(
    data: bytes,
    *,
    thumb_side: int = 512,
    square_side: int = 200,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> tuple[EncodedImage, EncodedImage]:
    """:func:`make_previews` (WebP, default qualities) on the image thread pool."""
    return await _run(
        make_previews,
        data,
        thumb_side=thumb_side,
        square_side=square_side,
        max_pixels=max_pixels,
    )


async def png_with_metadata_async(
    data: bytes,
    *,
    prompt: str,
    negative: str = "",
    params: dict[str, Any] | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> bytes:
    """:func:`png_with_metadata` on the image thread pool."""
    return await _run(
        png_with_metadata,
        data,
        prompt=prompt,
        negative=negative,
        params=params,
        max_pixels=max_pixels,
    )
