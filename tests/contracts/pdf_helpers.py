"""Reading back the PDFs the contracts module makes (pyHanko's reader, fontTools)."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import Any

from fontTools.pens.boundsPen import BoundsPen
from fontTools.ttLib import TTFont
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import enumerate_sig_fields


@dataclass(frozen=True)
class Field:
    name: str
    page_index: int
    rect: tuple[float, float, float, float]
    signed: bool


def reader(pdf: bytes) -> PdfFileReader:
    return PdfFileReader(io.BytesIO(pdf))


def page_refs(pdf_reader: PdfFileReader) -> list[Any]:
    return list(pdf_reader.root["/Pages"].raw_get("/Kids"))


def page_size(pdf_reader: PdfFileReader, index: int) -> tuple[float, float]:
    page = pdf_reader.root["/Pages"]["/Kids"][index].get_object()
    x1, y1, x2, y2 = (float(v) for v in page["/MediaBox"])
    return x2 - x1, y2 - y1


def signature_fields(pdf: bytes) -> dict[str, Field]:
    pdf_reader = reader(pdf)
    pages = [ref.idnum for ref in page_refs(pdf_reader)]
    found: dict[str, Field] = {}
    for name, value, ref in enumerate_sig_fields(pdf_reader):
        field = ref.get_object()
        page_ref = field.raw_get("/P")
        rect = tuple(float(v) for v in field["/Rect"])
        assert len(rect) == 4
        found[name] = Field(
            name=name,
            page_index=pages.index(page_ref.idnum),
            rect=(rect[0], rect[1], rect[2], rect[3]),
            signed=value is not None,
        )
    return found


_BFCHAR = re.compile(r"<([0-9a-fA-F]+)>\s*<([0-9a-fA-F]+)>")


def glyphs_by_char(pdf: bytes) -> dict[str, list[tuple[str, bool]]]:
    """For every character the PDF's fonts map (ToUnicode), the fonts that draw it
    and whether the embedded glyph has an outline (False: an empty or missing
    glyph, which a reader would show as a blank or a box)."""
    pdf_reader = reader(pdf)
    seen: set[int] = set()
    out: dict[str, list[tuple[str, bool]]] = {}
    for page in pdf_reader.root["/Pages"]["/Kids"]:
        fonts = page.get_object()["/Resources"]["/Font"]
        for key in fonts:
            ref = fonts.raw_get(key)
            if ref.idnum in seen:
                continue
            seen.add(ref.idnum)
            font = fonts[key].get_object()
            base_font = str(font["/BaseFont"])
            descendant = font["/DescendantFonts"][0].get_object()
            descriptor = descendant["/FontDescriptor"]
            program_key = next(k for k in descriptor if str(k).startswith("/FontFile"))
            program = TTFont(io.BytesIO(descriptor[program_key].get_object().data))
            glyph_set = program.getGlyphSet()
            order = program.getGlyphOrder()
            cmap = font["/ToUnicode"].get_object().data.decode("latin-1")
            for block in re.findall(r"beginbfchar(.*?)endbfchar", cmap, re.DOTALL):
                for cid, unicode_hex in _BFCHAR.findall(block):
                    gid = int(cid, 16)
                    char = bytes.fromhex(unicode_hex).decode("utf-16-be")
                    drawn = False
                    if 0 < gid < len(order):
                        pen = BoundsPen(glyph_set)
                        glyph_set[order[gid]].draw(pen)
                        drawn = pen.bounds is not None
                    out.setdefault(char, []).append((base_font, drawn))
    return out


def has_image(pdf: bytes) -> bool:
    pdf_reader = reader(pdf)
    for page in pdf_reader.root["/Pages"]["/Kids"]:
        resources = page.get_object()["/Resources"]
        if "/XObject" not in resources:
            continue
        for key in resources["/XObject"]:
            if resources["/XObject"][key].get_object().get("/Subtype") == "/Image":
                return True
    return False
