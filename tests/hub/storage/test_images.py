"""Upload validation, thumbnails, square crops and PNG metadata."""

from __future__ import annotations

import io
import json
import random
import struct
import threading
import zlib
from typing import Any

import pytest
from PIL import Image, PngImagePlugin

from hub.storage import (
    RejectReason,
    UploadRejected,
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
from hub.storage.images import decoding

MB = 1 << 20
LIMITS: dict[str, Any] = {"max_bytes": 5 * MB, "max_pixels": 4_000_000}
RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


# --- builders ----------------------------------------------------------------------------------


def encode(image: Image.Image, fmt: str, **params: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def halves(
    width: int, height: int, left: tuple[int, int, int], right: tuple[int, int, int]
) -> Image.Image:
    image = Image.new("RGB", (width, height), right)
    image.paste(left, (0, 0, width // 2, height))
    return image


def noisy(width: int, height: int, seed: int = 1) -> Image.Image:
    rng = random.Random(seed)
    return Image.frombytes("RGB", (width, height), rng.randbytes(width * height * 3))


def png_chunk(chunk_type: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(chunk_type + payload)
    return struct.pack(">I", len(payload)) + chunk_type + payload + struct.pack(">I", crc)


def png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG that claims huge dimensions: costs nothing to make, would cost GBs to decode."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + png_chunk(b"IEND", b"")
    )


def chunk_types(data: bytes) -> list[bytes]:
    types, offset = [], 8
    while offset < len(data):
        length, kind = struct.unpack(">I4s", data[offset : offset + 8])
        types.append(kind)
        offset += 12 + length
    return types


def rejected(data: bytes, **kwargs: Any) -> UploadRejected:
    with pytest.raises(UploadRejected) as caught:
        validate_upload(data, **(LIMITS | kwargs))
    return caught.value


def jpeg_with_exif(image: Image.Image, orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation  # Orientation
    exif[0x010F] = "SpyCam"  # Make
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 24.0)}  # GPS IFD
    return encode(image, "JPEG", exif=exif, quality=95)


# --- upload validation: accepted ---------------------------------------------------------------


def test_good_png_is_reencoded_as_png() -> None:
    source = noisy(64, 48)
    result = validate_upload(encode(source, "PNG"), **LIMITS)
    assert (result.format, result.width, result.height) == ("PNG", 64, 48)
    assert (result.content_type, result.extension, result.source_format) == (
        "image/png",
        "png",
        "PNG",
    )
    with Image.open(io.BytesIO(result.data)) as out:
        assert out.tobytes() == source.tobytes()  # lossless stays lossless
    assert len(result.sha256) == 64


def test_good_jpeg_loses_exif_but_keeps_its_orientation() -> None:
    # Stored 40x20 with the left half red; orientation 6 means "display rotated 90° clockwise",
    # so the upright image is 20x40 with the red half on top.
    data = jpeg_with_exif(halves(40, 20, RED, BLUE), orientation=6)
    with Image.open(io.BytesIO(data)) as original:
        assert original.getexif()[0x010F] == "SpyCam"  # the fixture really carries EXIF
    result = validate_upload(data, **LIMITS)
    assert (result.format, result.width, result.height) == ("JPEG", 20, 40)
    assert b"SpyCam" not in result.data
    with Image.open(io.BytesIO(result.data)) as out:
        assert "exif" not in out.info
        assert dict(out.getexif()) == {}
        top, bottom = out.convert("RGB").getpixel((10, 5)), out.convert("RGB").getpixel((10, 35))
    assert isinstance(top, tuple)
    assert isinstance(bottom, tuple)
    assert top == pytest.approx(RED, abs=60)
    assert bottom == pytest.approx(BLUE, abs=60)


def test_jpeg_comment_and_xmp_are_stripped() -> None:
    # Pillow carries a JPEG's COM segment over to the next save unless told otherwise.
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/">GPS 48.85</x:xmpmeta>'
    data = encode(noisy(32, 32), "JPEG", comment=b"owner: alice@example.com", xmp=xmp)
    with Image.open(io.BytesIO(data)) as original:
        assert original.info["comment"] == b"owner: alice@example.com"
        assert "xmp" in original.info
    result = validate_upload(data, **LIMITS)
    assert b"alice@example.com" not in result.data
    assert b"GPS 48.85" not in result.data
    with Image.open(io.BytesIO(result.data)) as out:
        assert "comment" not in out.info
        assert "xmp" not in out.info


def test_png_text_and_exif_chunks_are_stripped() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "home address: 1 Secret Lane")
    info.add_itxt("workflow", "{}" * 10)
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"
    data = encode(noisy(16, 16), "PNG", pnginfo=info, exif=exif)
    assert {b"tEXt", b"iTXt", b"eXIf"} <= set(chunk_types(data))
    result = validate_upload(data, **LIMITS)
    assert set(chunk_types(result.data)) <= {b"IHDR", b"IDAT", b"IEND"}
    assert b"Secret Lane" not in result.data


def test_webp_upload_stays_webp() -> None:
    result = validate_upload(encode(noisy(30, 20), "WEBP", quality=80), **LIMITS)
    assert (result.format, result.content_type, result.width, result.height) == (
        "WEBP",
        "image/webp",
        30,
        20,
    )


def test_transparent_png_keeps_its_alpha() -> None:
    image = Image.new("RGBA", (10, 10), (255, 0, 0, 0))
    image.putpixel((5, 5), (0, 0, 255, 255))
    result = validate_upload(encode(image, "PNG"), **LIMITS)
    with Image.open(io.BytesIO(result.data)) as out:
        assert out.mode == "RGBA"
        assert out.getpixel((0, 0))[3] == 0  # type: ignore[index]
        assert out.getpixel((5, 5)) == (0, 0, 255, 255)


def test_palette_png_with_transparency_keeps_it() -> None:
    image = Image.new("P", (8, 8), 0)
    image.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    image.putpixel((1, 1), 1)
    result = validate_upload(encode(image, "PNG", transparency=0), **LIMITS)
    with Image.open(io.BytesIO(result.data)) as out:
        rgba = out.convert("RGBA")
        assert rgba.getpixel((0, 0))[3] == 0  # type: ignore[index]
        assert rgba.getpixel((1, 1)) == (0, 255, 0, 255)


def test_output_format_jpeg_flattens_alpha_on_white() -> None:
    image = Image.new("RGBA", (10, 10), (0, 0, 0, 0))
    result = validate_upload(encode(image, "PNG"), **LIMITS, output_format="jpeg")
    assert result.format == "JPEG"
    assert result.source_format == "PNG"
    with Image.open(io.BytesIO(result.data)) as out:
        assert out.mode == "RGB"
        pixel = out.getpixel((5, 5))
        assert isinstance(pixel, tuple)
        assert min(pixel) > 245  # white, not black


def test_animated_webp_is_flattened_to_its_first_frame() -> None:
    frames = [Image.new("RGB", (12, 12), colour) for colour in (RED, GREEN, BLUE)]
    data = encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], lossless=True)
    result = validate_upload(data, **LIMITS, output_format="PNG")
    assert result.source_frames == 3
    with Image.open(io.BytesIO(result.data)) as out:
        assert getattr(out, "n_frames", 1) == 1
        assert out.convert("RGB").getpixel((6, 6)) == RED


async def test_async_validation_runs_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[str] = []
    real = decoding.validate_upload

    def spy(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(decoding, "validate_upload", spy)
    result = await validate_upload_async(encode(noisy(8, 8), "PNG"), **LIMITS)
    assert result.width == 8
    assert threads
    assert threads[0].startswith("hub-images")


# --- upload validation: rejected ---------------------------------------------------------------


def test_oversize_upload_is_too_large() -> None:
    data = encode(noisy(64, 64), "PNG")
    error = rejected(data, max_bytes=len(data) - 1)
    assert error.reason is RejectReason.too_large
    assert error.status == 422
    body = error.to_dict()["error"]
    assert body["code"] == "upload_rejected"
    assert body["details"]["reason"] == "too_large"
    assert body["details"]["max_bytes"] == len(data) - 1


async def test_oversize_upload_is_rejected_by_the_async_wrapper_too() -> None:
    with pytest.raises(UploadRejected) as caught:
        await validate_upload_async(b"\x89PNG" + b"0" * 100, max_bytes=10, max_pixels=100)
    assert caught.value.reason is RejectReason.too_large


def test_random_bytes_are_not_an_image() -> None:
    error = rejected(random.Random(7).randbytes(4096))
    assert error.reason is RejectReason.bad_format
    assert error.status == 422
    assert error.details["detected"] is None


def test_empty_upload_is_bad_format() -> None:
    assert rejected(b"").reason is RejectReason.bad_format


def test_gif_is_refused_when_not_allowed() -> None:
    error = rejected(encode(Image.new("RGB", (4, 4)), "GIF"))
    assert error.reason is RejectReason.bad_format
    assert error.details["detected"] == "GIF"
    assert "GIF images are not accepted" in error.message


def test_allowed_formats_are_enforced() -> None:
    error = rejected(encode(noisy(8, 8), "WEBP"), formats=("PNG",))
    assert error.reason is RejectReason.bad_format
    assert error.details["detected"] == "WEBP"


def test_svg_is_refused() -> None:
    svg = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script/></svg>'
    error = rejected(svg)
    assert error.reason is RejectReason.bad_format
    assert error.details["detected"] == "SVG"


def test_huge_dimension_png_is_refused_before_decoding() -> None:
    data = png_header_only(50_000, 50_000)  # 2.5 Gpx claimed in 80 bytes
    assert len(data) < 200
    error = rejected(data)
    assert error.reason is RejectReason.too_many_pixels
    assert error.status == 422


def test_own_pixel_limit_applies_before_any_decoding() -> None:
    # Under Pillow's own limits but over ours. The file holds no real pixel data, so had it been
    # decoded the error would be "corrupt": too_many_pixels proves the header check ran first.
    error = rejected(png_header_only(3000, 2000), max_pixels=5_000_000)
    assert error.reason is RejectReason.too_many_pixels
    assert error.details == {
        "reason": "too_many_pixels",
        "width": 3000,
        "height": 2000,
        "max_pixels": 5_000_000,
    }
    assert rejected(png_header_only(300, 200)).reason is RejectReason.corrupt


def test_truncated_jpeg_is_corrupt() -> None:
    data = encode(noisy(256, 256), "JPEG", quality=90)
    error = rejected(data[: len(data) // 2])
    assert error.reason is RejectReason.corrupt
    assert error.status == 422


def test_png_with_damaged_pixel_data_is_corrupt() -> None:
    data = bytearray(encode(noisy(64, 64), "PNG"))
    idat = data.index(b"IDAT")
    data[idat + 50 : idat + 90] = b"\xff" * 40
    assert rejected(bytes(data)).reason is RejectReason.corrupt


def test_png_signature_alone_is_corrupt() -> None:
    assert rejected(b"\x89PNG\r\n\x1a\n").reason is RejectReason.corrupt


def test_unsupported_output_or_limits_are_programming_errors() -> None:
    data = encode(noisy(8, 8), "PNG")
    with pytest.raises(ValueError, match="formats"):
        validate_upload(data, **LIMITS, output_format="GIF")
    with pytest.raises(ValueError, match="formats"):
        validate_upload(data, **LIMITS, formats=("PNG", "BMP"))
    with pytest.raises(ValueError, match="positive"):
        validate_upload(data, max_bytes=0, max_pixels=10)


def test_upload_rejected_without_arguments_renders() -> None:
    body = UploadRejected().to_dict()["error"]
    assert body["code"] == "upload_rejected"
    assert body["message"]


# --- thumbnails and squares --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "max_side", "expected"),
    [
        ((2000, 1000), 512, (512, 256)),
        ((1000, 2000), 512, (256, 512)),
        ((300, 100), 512, (300, 100)),  # never upscaled
        ((640, 640), 128, (128, 128)),
    ],
)
def test_thumbnail_sizes(size: tuple[int, int], max_side: int, expected: tuple[int, int]) -> None:
    thumb = make_thumbnail(encode(Image.new("RGB", size, GREEN), "PNG"), max_side)
    assert (thumb.width, thumb.height) == expected
    assert thumb.format == "WEBP"
    assert thumb.content_type == "image/webp"
    with Image.open(io.BytesIO(thumb.data)) as out:
        assert out.format == "WEBP"
        assert out.size == expected


def test_thumbnail_of_a_large_jpeg_uses_reduced_decoding_and_keeps_content() -> None:
    source = halves(4000, 3000, RED, BLUE)
    thumb = make_thumbnail(encode(source, "JPEG", quality=90), 512, output_format="PNG")
    assert (thumb.width, thumb.height, thumb.format) == (512, 384, "PNG")
    with Image.open(io.BytesIO(thumb.data)) as out:
        assert out.getpixel((10, 200)) == pytest.approx(RED, abs=25)
        assert out.getpixel((500, 200)) == pytest.approx(BLUE, abs=25)


def test_thumbnail_applies_exif_orientation() -> None:
    thumb = make_thumbnail(jpeg_with_exif(halves(800, 400, RED, BLUE), 6), 100)
    assert (thumb.width, thumb.height) == (50, 100)
    with Image.open(io.BytesIO(thumb.data)) as out:
        assert out.convert("RGB").getpixel((25, 10)) == pytest.approx(RED, abs=40)


def test_thumbnail_refuses_a_bomb() -> None:
    with pytest.raises(UploadRejected) as caught:
        make_thumbnail(png_header_only(50_000, 50_000))
    assert caught.value.reason is RejectReason.too_many_pixels


def test_square_is_a_centre_crop() -> None:
    # 400x200: red | green green | blue in quarters; the centred 200x200 crop is all green.
    source = Image.new("RGB", (400, 200), GREEN)
    source.paste(RED, (0, 0, 100, 200))
    source.paste(BLUE, (300, 0, 400, 200))
    square = make_square(encode(source, "PNG"), 200, output_format="PNG")
    assert (square.width, square.height) == (200, 200)
    with Image.open(io.BytesIO(square.data)) as out:
        assert out.size == (200, 200)
        colours = {out.getpixel((x, y)) for x in (2, 100, 197) for y in (2, 100, 197)}
    assert colours == {GREEN}


def test_square_scales_small_images_up_to_the_exact_size() -> None:
    square = make_square(encode(Image.new("RGB", (50, 80), RED), "PNG"), 200)
    assert (square.width, square.height, square.format) == (200, 200, "WEBP")


async def test_async_image_wrappers() -> None:
    data = encode(Image.new("RGBA", (300, 150), (1, 2, 3, 128)), "PNG")
    thumb = await make_thumbnail_async(data, 100)
    square = await make_square_async(data, 64)
    assert (thumb.width, thumb.height) == (100, 50)
    assert (square.width, square.height) == (64, 64)
    with Image.open(io.BytesIO(thumb.data)) as out:
        assert out.mode == "RGBA"  # WebP keeps alpha
    tagged = await png_with_metadata_async(data, prompt="p", negative="n", params={"a": 1})
    assert read_png_metadata(tagged).parameters == {"a": 1}


def test_bad_sizes_are_programming_errors() -> None:
    data = encode(Image.new("RGB", (4, 4)), "PNG")
    with pytest.raises(ValueError, match="max_side"):
        make_thumbnail(data, 0)
    with pytest.raises(ValueError, match="side"):
        make_square(data, -1)


# --- PNG metadata ------------------------------------------------------------------------------

PROMPT = "一只在月光下的猫, watercolor, 高细节"
NEGATIVE = "模糊, 低质量"
PARAMS = {"seed": 42, "steps": 20, "sampler": "欧拉 a", "cfg": 7.5, "size": [512, 512]}


def test_metadata_round_trip_with_chinese() -> None:
    source = noisy(32, 32)
    tagged = png_with_metadata(
        encode(source, "PNG"), prompt=PROMPT, negative=NEGATIVE, params=PARAMS
    )
    meta = read_png_metadata(tagged)
    assert meta.prompt == PROMPT
    assert meta.negative_prompt == NEGATIVE
    assert meta.parameters == PARAMS
    assert json.loads(meta.text["parameters"]) == PARAMS
    # Pillow, an independent reader, agrees, and the pixels are untouched.
    with Image.open(io.BytesIO(tagged)) as image:
        assert image.tobytes() == source.tobytes()
        text = getattr(image, "text", {})
        assert text["prompt"] == PROMPT
        assert text["negative_prompt"] == NEGATIVE
        assert json.loads(text["parameters"]) == PARAMS


def test_metadata_uses_text_for_ascii_and_itxt_otherwise() -> None:
    tagged = png_with_metadata(encode(noisy(4, 4), "PNG"), prompt="a cat", negative="", params={})
    assert chunk_types(tagged)[:4] == [b"IHDR", b"tEXt", b"tEXt", b"tEXt"]
    tagged = png_with_metadata(encode(noisy(4, 4), "PNG"), prompt=PROMPT, negative="x", params={})
    assert chunk_types(tagged)[:4] == [b"IHDR", b"iTXt", b"tEXt", b"tEXt"]
    assert PROMPT.encode("utf-8") in tagged


def test_long_metadata_is_compressed_and_round_trips() -> None:
    long_prompt = "猫 cat " * 2000
    tagged = png_with_metadata(
        encode(noisy(4, 4), "PNG"), prompt=long_prompt, negative="n " * 3000, params=PARAMS
    )
    assert long_prompt.encode("utf-8") not in tagged
    assert len(tagged) < len(long_prompt.encode("utf-8"))
    meta = read_png_metadata(tagged)
    assert meta.prompt == long_prompt
    assert meta.negative_prompt == "n " * 3000
    with Image.open(io.BytesIO(tagged)) as image:
        image.load()
        assert getattr(image, "text", {})["prompt"] == long_prompt


def test_existing_text_and_private_chunks_are_replaced() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("prompt", '{"3": {"class_type": "KSampler"}}')  # a ComfyUI graph
    info.add_text("workflow", '{"nodes": []}')
    data = encode(noisy(8, 8), "PNG", pnginfo=info)
    end = data.rindex(b"IEND") - 4
    data = data[:end] + png_chunk(b"prVt", b"provider secrets") + data[end:]
    tagged = png_with_metadata(data, prompt="new", negative="", params={"seed": 1})
    meta = read_png_metadata(tagged)
    assert meta.prompt == "new"
    assert set(meta.text) == {"prompt", "negative_prompt", "parameters"}
    assert b"prVt" not in tagged
    assert b"KSampler" not in tagged


def test_metadata_on_a_jpeg_converts_it_to_png() -> None:
    tagged = png_with_metadata(
        encode(noisy(16, 8), "JPEG"), prompt=PROMPT, negative="", params={"seed": 3}
    )
    assert tagged.startswith(b"\x89PNG")
    with Image.open(io.BytesIO(tagged)) as image:
        assert (image.format, image.size) == ("PNG", (16, 8))
    assert read_png_metadata(tagged).prompt == PROMPT


def test_nul_characters_are_dropped_from_metadata() -> None:
    tagged = png_with_metadata(encode(noisy(4, 4), "PNG"), prompt="a\x00b", params={})
    assert read_png_metadata(tagged).prompt == "ab"


def test_reading_metadata_written_by_pillow() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_itxt("prompt", PROMPT, zip=True)
    info.add_text("parameters", "Steps: 20, Sampler: Euler a", zip=True)
    meta = read_png_metadata(encode(noisy(4, 4), "PNG", pnginfo=info))
    assert meta.prompt == PROMPT
    assert meta.negative_prompt is None
    assert meta.parameters is None  # free text, as A1111 writes it: kept raw only
    assert meta.text["parameters"] == "Steps: 20, Sampler: Euler a"


def test_deeply_nested_parameters_read_as_free_text() -> None:
    # A hostile file: parsing this with plain json.loads raises RecursionError, not ValueError.
    deep = "[" * 100_000 + "]" * 100_000
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", deep, zip=True)
    meta = read_png_metadata(encode(noisy(4, 4), "PNG", pnginfo=info))
    assert meta.parameters is None
    assert meta.text["parameters"] == deep


def test_png_without_metadata_reads_empty() -> None:
    meta = read_png_metadata(encode(noisy(4, 4), "PNG"))
    assert (meta.prompt, meta.negative_prompt, meta.parameters, meta.text) == (None, None, None, {})


def test_damaged_png_metadata_input_is_refused() -> None:
    data = bytearray(encode(noisy(8, 8), "PNG"))
    data[20] ^= 0xFF  # inside IHDR: CRC mismatch
    with pytest.raises(ValueError, match="CRC"):
        read_png_metadata(bytes(data))
    with pytest.raises(ValueError, match="CRC"):
        png_with_metadata(bytes(data), prompt="x")
    good = encode(noisy(8, 8), "PNG")
    with pytest.raises(ValueError, match="truncated"):
        read_png_metadata(good[:-20])
    with pytest.raises(ValueError, match="not a PNG"):
        read_png_metadata(b"GIF89a")


def test_params_must_be_plain_json() -> None:
    data = encode(noisy(4, 4), "PNG")
    with pytest.raises(ValueError, match=r"JSON|Out of range"):
        png_with_metadata(data, prompt="x", params={"cfg": float("nan")})
    with pytest.raises(TypeError):
        png_with_metadata(data, prompt="x", params={"when": object()})


def test_text_chunk_inflating_beyond_the_limit_is_ignored() -> None:
    bomb = zlib.compress(b"a" * (2 * MB), 9)
    payload = b"prompt\x00\x00" + bomb  # zTXt: keyword, NUL, method 0, data
    data = encode(noisy(4, 4), "PNG")
    data = data[:33] + png_chunk(b"zTXt", payload) + data[33:]
    meta = read_png_metadata(data)
    assert meta.prompt is None
