"""Signature stamps: the picture in each signer's field, in any script."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from PIL import Image, ImageChops

from mindlinks.esign.stamps import (
    PIXELS_PER_POINT,
    faces_for,
    render_stamp,
    signed_caption,
    uncovered,
)
from tests.esign.factories import png_bytes

SIGNED_AT = datetime(2027, 1, 4, 9, 30, 15, tzinfo=UTC)


def _stamp(**fields):
    values = {
        "width_pt": 226.8,
        "height_pt": 73.7,
        "name": "Zoë Łukasiewicz",
        "signed_at": SIGNED_AT,
        "role": "contractor",
    }
    values.update(fields)
    return render_stamp(**values)


def _ink(image: Image.Image) -> int:
    """Pixels with any opacity."""
    return sum(1 for a in image.getchannel("A").get_flattened_data() if a)


@pytest.mark.parametrize(
    ("name", "face"),
    [
        ("Zoë Łukasiewicz", "DejaVuSerif-Italic.ttf"),
        ("张伟", "NotoSerifCJK-Regular.ttc"),
        ("Ελένη Παπαδοπούλου", "DejaVuSerif-Italic.ttf"),
        ("Светлана Иванова", "DejaVuSerif-Italic.ttf"),
    ],
)
def test_every_character_of_a_name_has_a_real_glyph(name, face):
    assert uncovered(name) == ""
    assert uncovered(f"Digitally signed by {name}", signature=False) == ""
    assert all(path.endswith(face) for path in faces_for(name))


def test_a_mixed_script_name_switches_faces_mid_line():
    used = faces_for("张伟 Łukasiewicz")
    assert used[0].endswith("NotoSerifCJK-Regular.ttc")
    assert used[-1].endswith("DejaVuSerif-Italic.ttf")


def test_the_stamp_is_drawn_at_four_pixels_per_point_on_a_transparent_ground():
    stamp = _stamp()
    assert stamp.mode == "RGBA"
    assert stamp.size == (round(226.8 * PIXELS_PER_POINT), round(73.7 * PIXELS_PER_POINT))
    assert stamp.getpixel((stamp.width - 2, stamp.height // 2))[3] == 0
    assert _ink(stamp) > 2000


def test_cjk_characters_are_drawn_as_distinct_glyphs_not_boxes():
    first = _stamp(name="张", typed_name="张")
    second = _stamp(name="伟", typed_name="伟")
    missing = _stamp(name="\U000f0000", typed_name="\U000f0000")  # private use: no face has it
    assert ImageChops.difference(first, second).getbbox() is not None
    assert ImageChops.difference(first, missing).getbbox() is not None


def test_the_typed_name_is_drawn_and_differs_from_another_name():
    assert ImageChops.difference(_stamp(), _stamp(typed_name="Z. Ł.")).getbbox() is not None


def test_a_drawn_signature_is_placed_in_the_stamp():
    red = Image.new("RGBA", (300, 100), (0, 0, 0, 0))
    for x in range(20, 280):
        for y in range(45, 55):
            red.putpixel((x, y), (220, 0, 0, 255))
    out = io.BytesIO()
    red.save(out, format="PNG")
    stamp = _stamp(drawn_png=out.getvalue(), typed_name=None)
    reds = [p for p in stamp.get_flattened_data() if p[0] > 150 and p[1] < 60 and p[3] > 200]
    assert len(reds) > 1000


def test_an_opaque_canvas_export_is_trimmed_to_its_ink():
    stamp = _stamp(drawn_png=png_bytes(mode="RGB"), typed_name=None)
    # No white rectangle: the white canvas around the strokes is cut away.
    whites = [p for p in stamp.get_flattened_data() if p[:3] == (255, 255, 255) and p[3] == 255]
    assert len(whites) < stamp.width * stamp.height // 4


@pytest.mark.parametrize("bad", [b"not a png", b"\x89PNG\r\n\x1a\nbroken", b""])
def test_a_drawn_signature_that_does_not_decode_falls_back_to_the_name(bad):
    fallback = _stamp(drawn_png=bad, typed_name=None)
    assert ImageChops.difference(fallback, _stamp(typed_name=None)).getbbox() is None


def test_a_jpeg_is_not_taken_for_a_drawn_signature():
    out = io.BytesIO()
    Image.new("RGB", (200, 80), "black").save(out, format="JPEG")
    fallback = _stamp(drawn_png=out.getvalue(), typed_name=None)
    assert ImageChops.difference(fallback, _stamp(typed_name=None)).getbbox() is None


def test_the_caption_is_the_utc_time_of_signing():
    from datetime import timedelta, timezone

    paris = SIGNED_AT.astimezone(timezone(timedelta(hours=1)))
    assert signed_caption(paris) == "2027-01-04 09:30:15 UTC"


def test_a_tiny_field_still_gets_a_stamp():
    stamp = _stamp(width_pt=40, height_pt=12)
    assert stamp.size == (160, 48)
