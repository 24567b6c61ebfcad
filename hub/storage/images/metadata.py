"""PNG text metadata: the prompt, the negative prompt and the parameters of a generated image,
written into (and read from) ``tEXt``/``zTXt``/``iTXt`` chunks."""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from hub.storage.images.decoding import (
    DEFAULT_MAX_PIXELS,
    OUTPUT_FORMATS,
    decode_slot,
    encode,
    icc_of,
    load_upright,
    open_checked,
)
from hub.storage.images.pool import pooled
from rooms import jsontext

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
        open_checked(data, formats=OUTPUT_FORMATS, max_pixels=max_pixels) as source,
        decode_slot(),
    ):
        image = load_upright(source, None)
        png = encode(image, "PNG", quality=100, icc_profile=icc_of(image))
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


# --- off the event loop -----------------------------------------------------------------------


png_with_metadata_async = pooled(png_with_metadata)
