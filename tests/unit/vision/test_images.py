import io
import struct
import tarfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from moodtune.errors import BadImage, TooLarge, UnsupportedMedia
from moodtune.vision.images import (
    WHOLE_DECODE_PIXELS,
    decode_image,
    decode_photo,
    sniff_type,
)

FACES_TAR = Path(__file__).resolve().parents[4] / "shared" / "data" / "faces_tw_dev.tar"


def _encode(image: Image.Image, fmt: str, **kwargs: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def _gradient(width: int = 40, height: int = 20) -> Image.Image:
    """Left half red, right half blue: orientation is visible in the pixels."""
    pixels = np.zeros((height, width, 3), np.uint8)
    pixels[:, : width // 2] = (255, 0, 0)
    pixels[:, width // 2 :] = (0, 0, 255)
    return Image.fromarray(pixels)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_supported_formats_decode_to_rgb(fmt: str) -> None:
    pixels = decode_image(
        _encode(_gradient(), fmt, quality=95) if fmt != "PNG" else _encode(_gradient(), fmt)
    )
    assert pixels.shape == (20, 40, 3) and pixels.dtype == np.uint8
    assert pixels[10, 5, 0] > 200 and pixels[10, 35, 2] > 200


def test_exif_rotation_is_applied() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: rotate 90° clockwise to view
    pixels = decode_image(_encode(_gradient(), "JPEG", exif=exif, quality=95))
    assert pixels.shape == (40, 20, 3)
    assert pixels[5, 10, 0] > 200 and pixels[35, 10, 2] > 200  # red on top after rotation


@pytest.mark.parametrize(("fmt", "media_type"), [("WEBP", "image/webp"), ("PNG", "image/png")])
def test_formats_decoded_whole_have_a_lower_pixel_cap(fmt: str, media_type: str) -> None:
    """A 16383x2400 WebP took 7.8 s and 620 MB: such formats stop at their cap, cheaply."""
    side = 4100  # 16.8 MP: over the WebP cap, under the general limit
    data = _encode(Image.new("RGB", (side, side), (120, 90, 60)), fmt)
    if media_type in WHOLE_DECODE_PIXELS:
        with pytest.raises(TooLarge, match="limit for WEBP") as caught:
            decode_photo(data, max_side=640)
        assert caught.value.details["limit_pixels"] == WHOLE_DECODE_PIXELS[media_type]
    else:
        assert decode_photo(data, max_side=640).pixels.shape == (640, 640, 3)


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_every_exif_orientation_matches_pillows_and_survives_reduction(
    orientation: int, fmt: str
) -> None:
    """The turn is applied after the reduction (cheap), and must give what Pillow's
    exif_transpose gives on the full photo."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = _encode(_gradient(), fmt, exif=exif, **({"quality": 95} if fmt != "PNG" else {}))
    expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"))
    full = decode_photo(data)
    assert full.pixels.shape == expected.shape
    assert np.abs(full.pixels.astype(int) - expected).mean() < 2
    reduced = decode_photo(data, max_side=20)
    assert (reduced.width, reduced.height) == (expected.shape[1], expected.shape[0])
    assert max(reduced.pixels.shape[:2]) == 20
    small = np.asarray(Image.fromarray(expected).resize(reduced.pixels.shape[1::-1]))
    assert np.abs(reduced.pixels.astype(int) - small).mean() < 12


@pytest.mark.parametrize("mode", ["L", "CMYK", "P", "RGBA", "I;16"])
def test_other_colour_modes_become_rgb(mode: str) -> None:
    image = (
        _gradient().convert(mode)
        if mode != "I;16"
        else Image.fromarray(np.full((20, 40), 40000, np.uint16))
    )
    fmt = "JPEG" if mode in ("L", "CMYK") else "PNG"
    pixels = decode_image(_encode(image, fmt))
    assert pixels.shape == (20, 40, 3)


def test_transparency_is_composited_on_white() -> None:
    clear = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    assert decode_image(_encode(clear, "PNG")).min() == 255


def test_one_pixel_image_decodes() -> None:
    assert decode_image(_encode(Image.new("RGB", (1, 1), (9, 9, 9)), "PNG")).shape == (1, 1, 3)


def test_real_photo_decodes() -> None:
    if not FACES_TAR.exists():
        pytest.skip(f"real photos not available at {FACES_TAR}")
    with tarfile.open(FACES_TAR) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith(".jpg"))
        data = tar.extractfile(member).read()  # type: ignore[union-attr]
    assert decode_image(data).shape == (256, 256, 3)


@pytest.mark.parametrize(
    ("data", "detected"),
    [
        (b"hello, I am a text file renamed photo.jpg\n", "unknown"),
        (b"GIF89a" + b"\x00" * 40, "image/gif"),
        (b"%PDF-1.7\n", "application/pdf"),
    ],
    ids=["text", "gif", "pdf"],
)
def test_unsupported_types_are_refused_by_their_real_type(data: bytes, detected: str) -> None:
    with pytest.raises(UnsupportedMedia, match="JPEG, PNG, WebP or HEIC") as info:
        decode_image(data)
    assert info.value.details["detected"] == detected


def test_animated_gif_is_refused_as_unsupported() -> None:
    frames = [Image.new("RGB", (8, 8), c) for c in ("red", "blue")]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:])
    with pytest.raises(UnsupportedMedia):
        decode_image(buffer.getvalue())


def test_empty_upload_is_a_bad_image() -> None:
    with pytest.raises(BadImage, match="empty"):
        decode_image(b"")


def test_truncated_jpeg_is_a_bad_image() -> None:
    data = _encode(_gradient(400, 300), "JPEG")
    with pytest.raises(BadImage, match="cannot be decoded"):
        decode_image(data[: len(data) // 2])


def test_too_many_bytes_are_refused_before_parsing() -> None:
    with pytest.raises(TooLarge, match="limit is 100"):
        decode_image(b"\xff\xd8\xff" + b"\x00" * 200, max_bytes=100)


def _png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a huge size: decoding it would allocate gigabytes."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    ("width", "height"), [(10_000, 10_000), (100_000, 100_000)], ids=["100MP", "10GP"]
)
def test_huge_declared_dimensions_are_refused_before_decoding(width: int, height: int) -> None:
    with pytest.raises(TooLarge, match="pixels"):
        decode_image(_png_declaring(width, height))


def test_fifty_megapixel_photo_is_over_the_default_limit() -> None:
    data = _encode(Image.new("RGB", (8000, 6250), (90, 120, 150)), "JPEG", quality=50)
    with pytest.raises(TooLarge) as info:
        decode_image(data, max_bytes=50 * 1024 * 1024)
    assert info.value.details["width"] == 8000


def test_sniffing_needs_the_riff_container_for_webp() -> None:
    assert sniff_type(b"XXXX\x00\x00\x00\x00WEBP") is None
    assert sniff_type(_encode(_gradient(), "WEBP")) == "image/webp"


def test_heic_photos_from_phones_decode() -> None:
    pillow_heif = pytest.importorskip(
        "pillow_heif", reason="pillow-heif adds HEIC support when installed"
    )
    pillow_heif.register_heif_opener()  # to encode the test photo
    pixels = decode_image(_encode(_gradient(), "HEIF", quality=90))
    assert pixels.shape == (20, 40, 3) and pixels[10, 5, 0] > 180
