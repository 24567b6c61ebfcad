"""Previews of an image: thumbnails (longer side bounded) and square crops (avatars, cards)."""

from __future__ import annotations

from PIL import Image

from hub.storage.images.decoding import (
    DEFAULT_MAX_PIXELS,
    OUTPUT_FORMATS,
    EncodedImage,
    decode_slot,
    encode,
    icc_of,
    load_upright,
    normalise_formats,
    open_checked,
)
from hub.storage.images.pool import pooled


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
    fmt = normalise_formats([output_format])[0]
    with open_checked(data, formats=OUTPUT_FORMATS, max_pixels=max_pixels) as source:
        with decode_slot():
            image = load_upright(source, (max_side, max_side))
            icc = icc_of(image)
            _shrink(image, max_side)
        encoded = encode(image, fmt, quality=quality, icc_profile=icc)
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
    fmt = normalise_formats([output_format])[0]
    with (
        open_checked(data, formats=OUTPUT_FORMATS, max_pixels=max_pixels) as source,
        decode_slot(),
    ):
        image = load_upright(source, (side, side))
        icc = icc_of(image)
        square = _square(image, side)
        source.close()  # the pixels go before the slot does
    encoded = encode(square, fmt, quality=quality, icc_profile=icc)
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
    fmt = normalise_formats([output_format])[0]
    draft = max(thumb_side, square_side)
    with open_checked(data, formats=OUTPUT_FORMATS, max_pixels=max_pixels) as source:
        with decode_slot():
            thumb = load_upright(source, (draft, draft))
            icc = icc_of(thumb)
            square = _square(thumb, square_side)
            _shrink(thumb, thumb_side)
        return (
            EncodedImage(
                encode(thumb, fmt, quality=thumb_quality, icc_profile=icc),
                fmt,
                thumb.width,
                thumb.height,
            ),
            EncodedImage(
                encode(square, fmt, quality=square_quality, icc_profile=icc),
                fmt,
                square_side,
                square_side,
            ),
        )


# --- off the event loop -----------------------------------------------------------------------


make_thumbnail_async = pooled(make_thumbnail)
make_square_async = pooled(make_square)
make_previews_async = pooled(make_previews)
