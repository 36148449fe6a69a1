"""The visible part of a signature: the picture stamped into a signer's field.

A stamp shows, like a pen-and-paper signature block: "Digitally signed by <name>",
the signature itself (the typed name in a script-like face, or the signer's drawn
PNG, trimmed to its ink), and the time of signing in UTC.

It is drawn with Pillow (FreeType, and HarfBuzz through libraqm when Pillow has
it) at 4 pixels per point, then placed as an image. PyHanko's own text stamps need
its `[opentype]` extra (uharfbuzz), which is not installed; without it they only
know the 14 standard PDF fonts, which cannot write "Łukasiewicz" or "张伟". Every
character is drawn with the first face, in order of preference, that has a glyph
for it, so a name in any script Debian's DejaVu and Noto CJK fonts cover comes out
right, and mixed names switch faces mid-line instead of printing empty boxes.
"""

from __future__ import annotations

import io
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Final

from fontTools.ttLib import TTCollection, TTFont, TTLibError  # type: ignore[import-untyped]
from PIL import Image, ImageChops, ImageDraw, ImageFont, UnidentifiedImageError

from mindlinks.esign.pki import clean_name

PIXELS_PER_POINT: Final = 4
MAX_DRAWN_PIXELS: Final = 16_000_000  # a canvas export is far smaller; refuse bombs
INK: Final = (11, 42, 111, 255)
CAPTION: Final = (52, 58, 66, 255)
BAR: Final = (31, 78, 121, 255)
ROLE_LABELS: Final[dict[str, str]] = {
    "client": "Client",
    "contractor": "Contractor",
    "eor": "EOR Entity",
}


@dataclass(frozen=True)
class Face:
    """A font file; for a collection (.ttc), the member whose family name ends
    with `family_suffix` (else its first member)."""

    path: str
    family_suffix: str | None = None


_DEJAVU: Final = "/usr/share/fonts/truetype/dejavu"
_NOTO_CJK: Final = "/usr/share/fonts/opentype/noto"
# A slanted serif reads as handwriting next to the upright captions; the CJK serif
# and sans follow for names DejaVu cannot write.
SIGNATURE_FACES: Final = (
    Face(f"{_DEJAVU}/DejaVuSerif-Italic.ttf"),
    Face(f"{_NOTO_CJK}/NotoSerifCJK-Regular.ttc", "SC"),
    Face(f"{_DEJAVU}/DejaVuSans.ttf"),
    Face(f"{_NOTO_CJK}/NotoSansCJK-Regular.ttc", "SC"),
)
CAPTION_FACES: Final = (
    Face(f"{_DEJAVU}/DejaVuSans.ttf"),
    Face(f"{_NOTO_CJK}/NotoSansCJK-Regular.ttc", "SC"),
    Face(f"{_DEJAVU}/DejaVuSerif.ttf"),
)


@dataclass(frozen=True)
class _Resolved:
    path: str
    index: int
    codepoints: frozenset[int]


@lru_cache(maxsize=32)
def _resolve(face: Face) -> _Resolved | None:
    """The face's collection index and the code points it has glyphs for; None
    when the file is missing or unreadable (the next face is used)."""
    if not Path(face.path).is_file():
        return None
    try:
        if face.path.lower().endswith((".ttc", ".otc")):
            collection = TTCollection(face.path, lazy=True)
            index = 0
            for i, font in enumerate(collection.fonts):
                family = str(font["name"].getDebugName(1) or "")
                if face.family_suffix and family.endswith(face.family_suffix):
                    index = i
                    break
            cmap = collection.fonts[index]["cmap"].getBestCmap()
        else:
            index = 0
            cmap = TTFont(face.path, lazy=True)["cmap"].getBestCmap()
    except (OSError, TTLibError, KeyError, AttributeError):
        return None
    return _Resolved(face.path, index, frozenset(cmap or ()))


def _first_with(code: int, faces: Sequence[Face]) -> _Resolved | None:
    # Faces are opened lazily, in order: a Latin name never loads the CJK fonts.
    for face in faces:
        resolved = _resolve(face)
        if resolved is not None and code in resolved.codepoints:
            return resolved
    return None


_fonts = threading.local()


def _font(path: str, index: int, size_px: int) -> ImageFont.FreeTypeFont:
    # One FreeType face per thread: faces are not safe to share between threads,
    # and two workers may seal at once.
    cache: dict[tuple[str, int, int], ImageFont.FreeTypeFont] = _fonts.__dict__.setdefault(
        "by_key", {}
    )
    key = (path, index, max(1, size_px))
    found = cache.get(key)
    if found is None:
        if len(cache) > 128:
            cache.clear()
        found = cache[key] = ImageFont.truetype(path, key[2], index=index)
    return found


def _fallback_font(size_px: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(max(1, size_px))


def _runs(text: str, faces: Sequence[Face]) -> list[tuple[_Resolved | None, str]]:
    """Split `text` into runs, each drawn with one face: the preferred face that
    has the character (spaces and marks stay with the run they are in)."""
    runs: list[tuple[_Resolved | None, str]] = []
    for char in text:
        code = ord(char)
        current = runs[-1][0] if runs else None
        joins = char.isspace() or unicodedata.category(char).startswith("M")
        if runs and (joins or (current is not None and code in current.codepoints)):
            runs[-1] = (current, runs[-1][1] + char)
            continue
        chosen = _first_with(code, faces)
        if runs and chosen is current:
            runs[-1] = (current, runs[-1][1] + char)
        else:
            runs.append((chosen, char))
    return runs


def _run_font(face: _Resolved | None, size_px: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return _font(face.path, face.index, size_px) if face is not None else _fallback_font(size_px)


def _line_width(runs: list[tuple[_Resolved | None, str]], size_px: int) -> float:
    return sum(_run_font(face, size_px).getlength(part) for face, part in runs)


def _fit_size(runs: list[tuple[_Resolved | None, str]], max_width: float, max_size_px: int) -> int:
    width = _line_width(runs, max_size_px)
    if width <= max_width or width <= 0:
        return max_size_px
    return max(4, int(max_size_px * max_width / width))


def _draw_line(
    draw: ImageDraw.ImageDraw,
    text: str,
    faces: Sequence[Face],
    *,
    x: float,
    baseline: float,
    max_width: float,
    max_size_px: int,
    fill: tuple[int, int, int, int],
) -> None:
    runs = _runs(text, faces)
    size = _fit_size(runs, max_width, max_size_px)
    for face, part in runs:
        font = _run_font(face, size)
        draw.text((x, baseline), part, font=font, fill=fill, anchor="ls")
        x += font.getlength(part)


def _drawn_signature(png: bytes) -> Image.Image | None:
    """The drawn signature trimmed to its ink, or None if it is not a usable PNG
    (the stamp then shows the typed name: sealing never fails on a picture)."""
    try:
        with Image.open(io.BytesIO(png)) as opened:
            if opened.format != "PNG" or opened.width * opened.height > MAX_DRAWN_PIXELS:
                return None
            image = opened.convert("RGBA")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None
    alpha_box = image.getchannel("A").getbbox()
    if alpha_box is None:
        return None
    if image.getchannel("A").getextrema() == (255, 255):
        # Opaque canvas export: the ink is whatever differs from white.
        white = Image.new("RGB", image.size, (255, 255, 255))
        ink_box = ImageChops.difference(image.convert("RGB"), white).getbbox()
        if ink_box is None:
            return None
        return image.crop(ink_box)
    return image.crop(alpha_box)


def signed_caption(signed_at: datetime) -> str:
    return f"{signed_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


def render_stamp(
    *,
    width_pt: float,
    height_pt: float,
    name: str,
    signed_at: datetime,
    role: str,
    typed_name: str | None = None,
    drawn_png: bytes | None = None,
) -> Image.Image:
    """The stamp picture (RGBA, transparent background) for a field of
    `width_pt` x `height_pt` points."""
    scale = PIXELS_PER_POINT
    width, height = max(1, round(width_pt * scale)), max(1, round(height_pt * scale))
    image = Image.new("RGBA", (width, height), (255, 255, 255, 0))
    draw = ImageDraw.Draw(image)
    pad = 3 * scale
    bar = max(1, round(1.2 * scale))
    draw.rectangle((pad, pad, pad + bar - 1, height - pad), fill=BAR)
    left = pad + bar + 2 * scale
    usable = width - left - pad
    captions = CAPTION_FACES
    display_name = clean_name(name) or "—"
    caption_px = round(min(6.5, height_pt / 8) * scale)

    _draw_line(
        draw,
        f"Digitally signed by {display_name}",
        captions,
        x=left,
        baseline=pad + caption_px,
        max_width=usable,
        max_size_px=caption_px,
        fill=CAPTION,
    )
    role_label = ROLE_LABELS.get(role, role)
    _draw_line(
        draw,
        f"{signed_caption(signed_at)} · {role_label}",
        captions,
        x=left,
        baseline=height - pad - round(0.25 * caption_px),
        max_width=usable,
        max_size_px=caption_px,
        fill=CAPTION,
    )

    top = pad + caption_px + 2 * scale
    bottom = height - pad - caption_px - 2 * scale
    area_height = max(1, bottom - top)
    drawn = _drawn_signature(drawn_png) if drawn_png else None
    if drawn is not None:
        drawn.thumbnail((usable, area_height), Image.Resampling.LANCZOS)
        offset_y = top + (area_height - drawn.height) // 2
        image.alpha_composite(drawn, (left, offset_y))
    else:
        signature_text = clean_name(typed_name or "") or display_name
        _draw_line(
            draw,
            signature_text,
            SIGNATURE_FACES,
            x=left,
            baseline=top + round(area_height * 0.78),
            max_width=usable,
            max_size_px=round(area_height * 0.8),
            fill=INK,
        )
    return image


def faces_for(text: str, *, signature: bool = True) -> list[str]:
    """Which font files draw `text` (one per run; "default" for Pillow's own),
    for checks that a name is written with real glyphs."""
    faces = SIGNATURE_FACES if signature else CAPTION_FACES
    return [face.path if face else "default" for face, _ in _runs(text, faces)]


def uncovered(text: str, *, signature: bool = True) -> str:
    """The characters of `text` (spaces aside) that no available face can draw."""
    faces = SIGNATURE_FACES if signature else CAPTION_FACES
    return "".join(c for c in text if not c.isspace() and _first_with(ord(c), faces) is None)
