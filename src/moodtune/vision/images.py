"""Safe decoding of uploaded photos, in memory only.

Order matters: size limit on the bytes, then the real type from magic bytes (a text file named
``.jpg`` is refused before any decoder sees it), then the declared pixel count from the header
(decompression bombs are refused before decoding), then decode, EXIF orientation and RGB.
"""

import io
import warnings
from collections.abc import Mapping

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from moodtune.errors import BadImage, TooLarge, UnsupportedMedia

__all__ = ["SUPPORTED_TYPES", "decode_image", "sniff_type"]

#: Media type -> Pillow format name, for the types a listener can upload.
SUPPORTED_TYPES: Mapping[str, str] = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/webp": "WEBP",
}

_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (8, b"WEBP", "image/webp"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (0, b"BM", "image/bmp"),
    (0, b"II*\x00", "image/tiff"),
    (0, b"MM\x00*", "image/tiff"),
    (4, b"ftypheic", "image/heic"),
    (4, b"ftypmif1", "image/heic"),
    (4, b"ftypavif", "image/avif"),
    (0, b"%PDF", "application/pdf"),
)


def sniff_type(data: bytes) -> str | None:
    """The media type the bytes really are (by magic number), or None if unrecognised."""
    for offset, magic, media_type in _SIGNATURES:
        if data[offset : offset + len(magic)] == magic:
            if media_type == "image/webp" and data[:4] != b"RIFF":
                continue
            return media_type
    return None


def decode_image(
    data: bytes, *, max_bytes: int = 10 * 1024 * 1024, max_pixels: int = 40_000_000
) -> np.ndarray:
    """Decode an uploaded JPEG, PNG or WebP into upright RGB pixels.

    Parameters
    ----------
    data : bytes
        The file as uploaded; never written anywhere.
    max_bytes : int
        Larger uploads raise TooLarge before anything is parsed.
    max_pixels : int
        Images whose header declares more pixels raise TooLarge before decoding.

    Returns
    -------
    pixels : np.ndarray [shape=(height, width, 3)], uint8, RGB
        EXIF orientation applied; transparency composited on white; grey, palette, CMYK and
        16-bit images converted; for animations, the first frame.

    Raises
    ------
    TooLarge, UnsupportedMedia, BadImage
    """
    if not data:
        raise BadImage("the uploaded file is empty")
    if len(data) > max_bytes:
        raise TooLarge(
            f"the file is {len(data)} bytes; the limit is {max_bytes}", limit_bytes=max_bytes
        )
    media_type = sniff_type(data)
    if media_type is None or media_type not in SUPPORTED_TYPES:
        raise UnsupportedMedia(
            "unsupported file type: upload a JPEG, PNG or WebP photo",
            detected=media_type or "unknown",
            supported=list(SUPPORTED_TYPES),
        )
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=[SUPPORTED_TYPES[media_type]])
            width, height = image.size
            if width * height > max_pixels:
                raise TooLarge(
                    f"the image is {width}x{height} pixels; the limit is {max_pixels} pixels",
                    width=width,
                    height=height,
                    limit_pixels=max_pixels,
                )
            image.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise TooLarge(
                f"the image declares too many pixels: {exc}", limit_pixels=max_pixels
            ) from exc
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
            raise BadImage(
                f"the {media_type} file cannot be decoded: {exc}", media_type=media_type
            ) from exc
    return _upright_rgb(image)


def _upright_rgb(image: Image.Image) -> np.ndarray:
    try:
        image = ImageOps.exif_transpose(image)
    except (OSError, ValueError, SyntaxError):  # a corrupt EXIF block: keep the pixels as stored
        pass
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    if image.mode.startswith("I;16") or image.mode == "I":  # 16-bit grey: scale to 8 bits first
        image = Image.fromarray((np.asarray(image, dtype=np.uint32) >> 8).astype(np.uint8))
    return np.asarray(image.convert("RGB"), dtype=np.uint8)
