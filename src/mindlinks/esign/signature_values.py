"""Checks of what a signer signs with: a typed name, or a PNG drawn on a canvas.

A typed name is 1 to 200 characters of printable text once trimmed. A drawn
signature is base64 (RFC 4648 §4, padded) of a PNG, optionally as the
`data:image/png;base64,` URL a canvas's `toDataURL()` gives, and it passes when,
judged by its bytes alone:

- the encoded text cannot hold more than the limit (checked before decoding, so
  an oversized value costs no decoding), and the decoded file is within it;
- it starts with the PNG signature and Pillow's PNG decoder (the only one tried)
  accepts it: dimensions from the header first (a decompression bomb is refused
  before any pixel is inflated), then `verify()` (every chunk's CRC), then a full
  `load()` of a reopened image, so a truncated file fails;
- it is one still image (an animated PNG is refused) and not blank (one colour
  everywhere draws nothing).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import re
import unicodedata
import warnings
from dataclasses import dataclass
from typing import Final, Literal

from PIL import Image, UnidentifiedImageError

from mindlinks.esign.errors import SignatureInvalid

SignatureType = Literal["typed", "drawn"]
SIGNATURE_TYPES: Final = ("typed", "drawn")
TYPED_MAX_CHARS: Final = 200
PNG_MAGIC: Final = b"\x89PNG\r\n\x1a\n"
DATA_URL_PREFIX: Final = re.compile(r"^data:image/png;base64,", re.IGNORECASE)
OTHER_DATA_URL: Final = re.compile(r"^data:[^,]*,", re.IGNORECASE)
MAX_WIDTH: Final = 4000
MAX_HEIGHT: Final = 2000
MIN_SIDE: Final = 16
_BASE64: Final = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")


@dataclass(frozen=True)
class CheckedSignature:
    type: SignatureType
    typed_name: str | None = None
    png: bytes | None = None
    png_sha256: str | None = None
    width: int | None = None
    height: int | None = None


def check_signature(kind: str, value: object, *, max_png_bytes: int) -> CheckedSignature:
    """The signature to record, or `SignatureInvalid` (422) saying what is wrong."""
    if kind not in SIGNATURE_TYPES:
        raise SignatureInvalid("must be 'typed' or 'drawn'", field="signature.type")
    if not isinstance(value, str):
        raise SignatureInvalid("must be a string")
    if kind == "typed":
        return CheckedSignature("typed", typed_name=check_typed_name(value))
    return check_drawn(value, max_png_bytes=max_png_bytes)


def check_typed_name(value: str) -> str:
    name = value.strip()
    if not name:
        raise SignatureInvalid("type your name: a blank signature signs nothing")
    if len(name) > TYPED_MAX_CHARS:
        raise SignatureInvalid(f"a typed signature has at most {TYPED_MAX_CHARS} characters")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") for ch in name):
        raise SignatureInvalid("a typed signature holds printable characters only")
    return name


def _max_encoded_chars(max_bytes: int) -> int:
    return 4 * ((max_bytes + 2) // 3)


def check_drawn(value: str, *, max_png_bytes: int) -> CheckedSignature:
    encoded = DATA_URL_PREFIX.sub("", value.strip(), count=1)
    if OTHER_DATA_URL.match(encoded):
        raise SignatureInvalid("a drawn signature must be a PNG image (data:image/png;base64,…)")
    limit_text = (
        f"{max_png_bytes // 1024} KB"
        if max_png_bytes < 1024 * 1024
        else (f"{max_png_bytes / (1024 * 1024):g} MB")
    )
    if len(encoded) > _max_encoded_chars(max_png_bytes):
        raise SignatureInvalid(f"the drawn signature is larger than {limit_text}")
    if not encoded or len(encoded) % 4 or not _BASE64.match(encoded):
        raise SignatureInvalid("a drawn signature must be standard base64 (RFC 4648) of a PNG")
    try:
        png = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureInvalid(
            "a drawn signature must be standard base64 (RFC 4648) of a PNG"
        ) from None
    if len(png) > max_png_bytes:
        raise SignatureInvalid(f"the drawn signature is larger than {limit_text}")
    if not png.startswith(PNG_MAGIC):
        raise SignatureInvalid("a drawn signature must be a PNG image")
    width, height = _checked_png(png)
    return CheckedSignature(
        "drawn",
        png=png,
        png_sha256=hashlib.sha256(png).hexdigest(),
        width=width,
        height=height,
    )


def _checked_png(png: bytes) -> tuple[int, int]:
    broken = SignatureInvalid("the drawn signature is not a complete, valid PNG image")
    try:
        with warnings.catch_warnings():
            # Pillow warns (not raises) below its own bomb limit; ours is far lower.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(png), formats=["PNG"]) as header:
                width, height = header.size
                if width > MAX_WIDTH or height > MAX_HEIGHT:
                    raise SignatureInvalid(
                        f"the drawn signature is {width}x{height} pixels; "
                        f"at most {MAX_WIDTH}x{MAX_HEIGHT} are accepted"
                    )
                if width < MIN_SIDE or height < MIN_SIDE:
                    raise SignatureInvalid(
                        f"the drawn signature is {width}x{height} pixels; "
                        f"at least {MIN_SIDE} a side is needed"
                    )
                if getattr(header, "is_animated", False) or getattr(header, "n_frames", 1) > 1:
                    raise SignatureInvalid("the drawn signature must be a still image")
                header.verify()
            with Image.open(io.BytesIO(png), formats=["PNG"]) as image:
                image.load()
                if _is_blank(image):
                    raise SignatureInvalid("the drawn signature is empty: draw your signature")
    except SignatureInvalid:
        raise
    except Image.DecompressionBombError:
        raise SignatureInvalid(
            f"the drawn signature has far more pixels than {MAX_WIDTH}x{MAX_HEIGHT}; "
            f"at most {MAX_WIDTH}x{MAX_HEIGHT} are accepted"
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise broken from None
    return width, height


def _is_blank(image: Image.Image) -> bool:
    flat = image.convert("RGBA") if image.mode in ("P", "PA", "LA", "1") else image
    extrema = flat.getextrema()
    bands = extrema if isinstance(extrema[0], tuple) else (extrema,)
    return all(low == high for low, high in bands)
