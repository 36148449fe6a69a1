"""Server-side checks of captured images, with Pillow.

A file passes when, judged by its bytes alone (never by its name or declared
content type):

- it is at most `limit` bytes, enforced while reading: at most `limit + 1` bytes
  are ever read from the stream, however large the upload;
- Pillow recognises it as JPEG, PNG or WebP (only those decoders are tried);
- its dimensions are sane: `MIN_SIDE`..`MAX_SIDE` pixels a side and at most
  `MAX_PIXELS` in all, checked from the header *before* any pixel is decoded
  (a decompression bomb is refused without being inflated);
- it is one still image that decodes completely: `verify()` (PNG checks every
  chunk's CRC), then `load()` on a reopened image, so a truncated file fails.

JPEGs are decoded in draft mode (libjpeg's DCT scaling, ⅛ a side, greyscale): every
byte of the scan is still decoded, so truncation is caught, but the bitmap is 1/192
of the full-size RGB one. That keeps a 10 MB photo's check within a few MB.

`dhash` is a 64-bit difference hash of the picture (after its EXIF orientation):
re-encoding, rescaling or recompressing an image moves only a few bits, while two
different photos differ in about half. The selfie is compared with each document
side both by SHA-256 (the same file) and by this hash (the same picture).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from typing import BinaryIO, Final

from PIL import Image, UnidentifiedImageError

ALLOWED_FORMATS: Final[dict[str, str]] = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
}
MIN_SIDE: Final = 200
MAX_SIDE: Final = 10_000
MAX_PIXELS: Final = 50_000_000  # a 48 MP phone photo passes; a bomb does not
# Hamming distance (of 64 bits) at or below which two pictures are the same one.
SAME_PICTURE_DISTANCE: Final = 10
_DRAFT_SCALE: Final = 8
_READ_CHUNK: Final = 1024 * 1024
# EXIF orientation -> the transpose that shows the picture upright.
_ORIENTATION: Final[dict[int, Image.Transpose]] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


class ImageRejected(Exception):
    """The file is not an image we accept; the message says why (shown to the user)."""


@dataclass(frozen=True)
class CheckedImage:
    sha256: str
    dhash: int
    format: str  # JPEG | PNG | WEBP
    content_type: str
    width: int
    height: int
    size: int


def read_limited(stream: BinaryIO, limit: int) -> bytes:
    """The whole stream, refusing it once it passes `limit` bytes.

    Reads at most `limit + 1` bytes, so an oversized upload costs no more memory
    than an accepted one."""
    parts: list[bytes] = []
    total = 0
    while total <= limit:
        chunk = stream.read(min(max(_READ_CHUNK, limit + 1), limit + 1 - total))
        if not chunk:
            break
        parts.append(chunk)
        total += len(chunk)
    if total > limit:
        raise ImageRejected(f"the file is larger than {_megabytes(limit)}")
    if not parts:
        raise ImageRejected("the file is empty")
    return parts[0] if len(parts) == 1 else b"".join(parts)


def check_image(data: bytes) -> CheckedImage:
    """Check one image's bytes (see the module docs); ImageRejected with the reason."""
    if not data:
        raise ImageRejected("the file is empty")
    try:
        with Image.open(io.BytesIO(data), formats=list(ALLOWED_FORMATS)) as image:
            fmt = str(image.format)
            width, height = image.size
            _check_dimensions(width, height)
            if getattr(image, "n_frames", 1) != 1:
                raise ImageRejected("animated images are not accepted")
            image.verify()
        with Image.open(io.BytesIO(data), formats=[fmt]) as image:
            orientation = image.getexif().get(0x0112, 1)
            if fmt == "JPEG":
                image.draft("L", (max(1, width // _DRAFT_SCALE), max(1, height // _DRAFT_SCALE)))
            image.load()
            fingerprint = _dhash(image, orientation)
    except ImageRejected:
        raise
    except UnidentifiedImageError as exc:
        raise ImageRejected("the file is not a JPEG, PNG or WebP image") from exc
    except Image.DecompressionBombError as exc:
        raise ImageRejected(f"the image has more than {MAX_PIXELS} pixels") from exc
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError) as exc:
        # Pillow's decoders signal a damaged or truncated file with any of these.
        raise ImageRejected("the image is damaged or truncated") from exc
    return CheckedImage(
        sha256=hashlib.sha256(data).hexdigest(),
        dhash=fingerprint,
        format=fmt,
        content_type=ALLOWED_FORMATS[fmt],
        width=width,
        height=height,
        size=len(data),
    )


def same_picture(a: CheckedImage, b: CheckedImage) -> bool:
    """The same file, or the same picture re-encoded, rescaled or recompressed."""
    return a.sha256 == b.sha256 or hamming(a.dhash, b.dhash) <= SAME_PICTURE_DISTANCE


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def _check_dimensions(width: int, height: int) -> None:
    if min(width, height) < MIN_SIDE:
        raise ImageRejected(
            f"the image is {width}x{height} pixels; each side must be at least {MIN_SIDE}"
        )
    if max(width, height) > MAX_SIDE:
        raise ImageRejected(
            f"the image is {width}x{height} pixels; each side must be at most {MAX_SIDE}"
        )
    if width * height > MAX_PIXELS:
        raise ImageRejected(f"the image has more than {MAX_PIXELS} pixels")


def _dhash(image: Image.Image, orientation: int) -> int:
    # Box-reduce first so that converting a large PNG or WebP costs a small copy.
    factor = min(image.size) // 64
    if factor > 1:
        image = image.reduce(factor)
    grey = image.convert("L")
    transpose = _ORIENTATION.get(orientation)
    if transpose is not None:
        grey = grey.transpose(transpose)
    small = grey.resize((9, 8), Image.Resampling.LANCZOS)
    pixels = small.tobytes()
    bits = 0
    for row in range(8):
        for col in range(8):
            left, right = pixels[row * 9 + col], pixels[row * 9 + col + 1]
            bits = (bits << 1) | (left > right)
    return bits


def _megabytes(limit: int) -> str:
    return f"{limit / (1024 * 1024):g} MB"
