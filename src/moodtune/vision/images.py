"""Safe decoding of uploaded photos, in memory only.

Order matters: size limit on the bytes, then the real type from magic bytes (a text file named
``.jpg`` is refused before any decoder sees it), then the declared pixel count from the header
(decompression bombs are refused before decoding), then decode, EXIF orientation and RGB.
"""

import io
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

import numpy as np
from PIL import ExifTags, Image, UnidentifiedImageError

from moodtune.errors import BadImage, TooLarge, UnsupportedMedia

__all__ = [
    "SUPPORTED_TYPES",
    "WHOLE_DECODE_PIXELS",
    "DecodedPhoto",
    "decode_image",
    "decode_photo",
    "sniff_type",
]

#: Media type -> Pillow format name, for the types a listener can upload. HEIC (iPhone photos)
#: needs pillow-heif (see :func:`_heif_available`).
SUPPORTED_TYPES: Mapping[str, str] = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/webp": "WEBP",
    "image/heic": "HEIF",
}

#: Formats that cannot be decoded at reduced size (JPEG can, by DCT scaling; PNG decodes into
#: one image buffer) cost far more per pixel: these caps keep one upload within about 300 MB
#: and 1 s on one core (bench/big_images.py). A 40 MP WebP took 620 MB, a 40 MP HEIC 1.2 s.
WHOLE_DECODE_PIXELS: Mapping[str, int] = {"image/webp": 16_000_000, "image/heic": 24_000_000}

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


@dataclass(frozen=True)
class DecodedPhoto:
    """Upright RGB pixels, possibly reduced, and the upright size of the photo as uploaded."""

    pixels: np.ndarray
    width: int
    height: int

    @property
    def scale(self) -> float:
        """Original pixels per decoded pixel (1.0 when decoded at full size)."""
        return float(self.width / self.pixels.shape[1])


def decode_image(
    data: bytes, *, max_bytes: int = 10 * 1024 * 1024, max_pixels: int = 40_000_000
) -> np.ndarray:
    """Full-size upright RGB pixels; see :func:`decode_photo` for the checks and errors."""
    return decode_photo(data, max_bytes=max_bytes, max_pixels=max_pixels).pixels


def decode_photo(
    data: bytes,
    *,
    max_bytes: int = 10 * 1024 * 1024,
    max_pixels: int = 40_000_000,
    max_side: int | None = None,
) -> DecodedPhoto:
    """Decode an uploaded JPEG, PNG, WebP or HEIC photo into upright RGB pixels.

    Parameters
    ----------
    data : bytes
        The file as uploaded; never written anywhere.
    max_bytes : int
        Larger uploads raise TooLarge before anything is parsed.
    max_pixels : int
        Images whose header declares more pixels raise TooLarge before decoding (WebP and HEIC
        have lower caps, see ``WHOLE_DECODE_PIXELS``).
    max_side : int or None
        Reduce so the longer side is at most this (JPEGs decode directly at 1/2, 1/4 or 1/8
        size through DCT scaling, several times faster); None keeps full size.

    Returns
    -------
    DecodedPhoto
        ``pixels`` (H, W, 3) uint8 RGB with EXIF orientation applied, transparency composited
        on white, grey/palette/CMYK/16-bit converted, the first frame of animations; ``width``
        and ``height`` of the upright photo at full size.

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
    if media_type == "image/heic" and not _heif_available():
        media_type = "image/heic (pillow-heif not installed)"
    if media_type is None or media_type not in SUPPORTED_TYPES:
        raise UnsupportedMedia(
            "unsupported file type: upload a JPEG, PNG, WebP or HEIC photo",
            detected=media_type or "unknown",
            supported=list(SUPPORTED_TYPES),
        )
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=[SUPPORTED_TYPES[media_type]])
            width, height = image.size
            limit = min(max_pixels, WHOLE_DECODE_PIXELS.get(media_type, max_pixels))
            if width * height > limit:
                raise TooLarge(
                    f"the image is {width}x{height} pixels; the limit for "
                    f"{SUPPORTED_TYPES[media_type]} is {limit} pixels",
                    width=width,
                    height=height,
                    limit_pixels=limit,
                )
            if max_side and media_type == "image/jpeg" and max(width, height) > max_side:
                factor = max_side / max(width, height)  # DCT scaling picks 1/2..1/8, never below
                image.draft("RGB", (math.ceil(width * factor), math.ceil(height * factor)))
            image.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise TooLarge(
                f"the image declares too many pixels: {exc}", limit_pixels=max_pixels
            ) from exc
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
            raise BadImage(
                f"the {media_type} file cannot be decoded: {exc}", media_type=media_type
            ) from exc
    turn = _orientation(image)
    full_width, full_height = (height, width) if turn in _SWAPS_SIDES else (width, height)
    pixels: Image.Image = image
    if max_side and max(image.size) > max_side:  # reduce first: turning 40 MP costs a copy
        factor = max_side / max(image.size)
        size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
        pixels = image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    if turn is not None:
        pixels = pixels.transpose(turn)
    return DecodedPhoto(pixels=_rgb(pixels), width=full_width, height=full_height)


@cache
def _heif_available() -> bool:
    """Register pillow-heif's HEIC opener once, if the package is installed."""
    try:
        import pillow_heif
    except ImportError:
        return False
    pillow_heif.register_heif_opener()
    return True


#: EXIF orientation -> the turn that makes the photo upright (as ImageOps.exif_transpose does;
#: applied by hand so that it can run after the reduction, on a small image).
_TURNS: Mapping[int, Image.Transpose] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_SWAPS_SIDES = {
    Image.Transpose.TRANSPOSE,
    Image.Transpose.ROTATE_270,
    Image.Transpose.TRANSVERSE,
    Image.Transpose.ROTATE_90,
}


def _orientation(image: Image.Image) -> Image.Transpose | None:
    try:
        return _TURNS.get(int(image.getexif().get(ExifTags.Base.Orientation, 1)))
    except (OSError, ValueError, TypeError, SyntaxError):  # a corrupt EXIF block: as stored
        return None


def _rgb(image: Image.Image) -> np.ndarray:
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    if image.mode.startswith("I;16") or image.mode == "I":  # 16-bit grey: scale to 8 bits first
        image = Image.fromarray((np.asarray(image, dtype=np.uint32) >> 8).astype(np.uint8))
    return np.asarray(image.convert("RGB"), dtype=np.uint8)
