"""What a signer signs with: typed names and drawn PNGs, judged by their bytes."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from mindlinks.esign.errors import SignatureInvalid
from mindlinks.esign.signature_values import check_signature
from tests.esign.factories import (
    MAX_PNG,
    apng_bytes,
    drawn,
    noisy_png,
    png_bytes,
    png_with_bad_crc,
    truncated_png,
)


def refused(kind: str, value: object, *, limit: int = MAX_PNG) -> str:
    with pytest.raises(SignatureInvalid) as caught:
        check_signature(kind, value, max_png_bytes=limit)
    assert caught.value.status == 422
    assert caught.value.errors is not None
    assert caught.value.errors[0]["field"] in ("signature.value", "signature.type")
    return caught.value.errors[0]["message"]


def test_a_typed_name_is_trimmed_and_kept():
    checked = check_signature("typed", "  Zoë Łukasiewicz ", max_png_bytes=MAX_PNG)
    assert (checked.type, checked.typed_name, checked.png) == ("typed", "Zoë Łukasiewicz", None)
    assert check_signature("typed", "张伟", max_png_bytes=MAX_PNG).typed_name == "张伟"


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("", "blank"),
        ("   \t ", "blank"),
        ("x" * 201, "at most 200"),
        ("Eve\x00Mallory", "printable"),
        ("Eve\u202eyrollaM", "printable"),
    ],
)
def test_a_typed_name_must_be_printable_and_1_to_200_chars(value, why):
    assert why in refused("typed", value)


def test_200_characters_are_accepted():
    assert check_signature("typed", "n" * 200, max_png_bytes=MAX_PNG).typed_name == "n" * 200


def test_a_drawn_png_is_decoded_hashed_and_kept():
    png = png_bytes()
    checked = check_signature("drawn", drawn(png)["value"], max_png_bytes=MAX_PNG)
    assert checked.png == png
    assert (checked.width, checked.height) == (400, 150)
    assert len(checked.png_sha256 or "") == 64


def test_a_canvas_data_url_is_accepted():
    png = png_bytes(mode="RGB")
    checked = check_signature("drawn", drawn(png, data_url=True)["value"], max_png_bytes=MAX_PNG)
    assert checked.png == png


def test_a_drawn_value_that_is_not_base64_is_refused():
    assert "base64" in refused("drawn", "not base64 at all!")
    assert "base64" in refused("drawn", base64.urlsafe_b64encode(b"\xfb\xff" * 30).decode())
    unpadded = base64.b64encode(png_bytes()).decode().rstrip("=")
    if len(unpadded) % 4:
        assert "base64" in refused("drawn", unpadded)


@pytest.mark.parametrize("fmt", ["JPEG", "GIF", "WEBP"])
def test_another_image_format_is_not_a_png(fmt):
    out = io.BytesIO()
    Image.new("RGB", (300, 100), "white").save(out, format=fmt)
    assert "PNG" in refused("drawn", base64.b64encode(out.getvalue()).decode())


def test_a_data_url_of_another_type_is_refused():
    out = io.BytesIO()
    Image.new("RGB", (300, 100), "white").save(out, format="JPEG")
    value = "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode()
    assert "PNG" in refused("drawn", value)


def test_text_pretending_to_be_a_png_is_refused():
    assert "PNG" in refused("drawn", base64.b64encode(b"hello, I am a PNG").decode())
    fake = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200
    assert "valid PNG" in refused("drawn", base64.b64encode(fake).decode())


def test_a_truncated_or_corrupt_png_is_refused():
    assert "valid PNG" in refused("drawn", drawn(truncated_png())["value"])
    assert "valid PNG" in refused("drawn", drawn(png_with_bad_crc())["value"])


def test_a_png_over_1_mb_is_refused_and_one_under_passes():
    over = noisy_png(MAX_PNG + 1)
    assert "larger than 1 MB" in refused("drawn", drawn(over)["value"])
    under = noisy_png(MAX_PNG - 64 * 1024)
    assert len(under) <= MAX_PNG
    assert check_signature("drawn", drawn(under)["value"], max_png_bytes=MAX_PNG).png == under


def test_an_oversized_value_is_refused_before_it_is_decoded(monkeypatch):
    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded an oversized value")

    monkeypatch.setattr(base64, "b64decode", no_decoding)
    assert "larger than" in refused("drawn", "A" * (4 * MAX_PNG // 3 + 8))


@pytest.mark.parametrize(
    ("size", "why"), [((4001, 100), "at most"), ((400, 2001), "at most"), ((10, 100), "at least")]
)
def test_dimensions_must_be_sane(size, why):
    assert why in refused("drawn", drawn(png_bytes(size, mode="RGB"))["value"])


def test_a_huge_canvas_is_refused_from_its_header():
    # 20000 x 20000 pixels of one colour compress to a few KB: a decompression bomb.
    out = io.BytesIO()
    Image.new("1", (20000, 20000)).save(out, format="PNG")
    assert len(out.getvalue()) < MAX_PNG
    assert "at most" in refused("drawn", base64.b64encode(out.getvalue()).decode())


def test_an_animated_png_is_refused():
    assert "still image" in refused("drawn", drawn(apng_bytes())["value"])


def test_a_blank_drawing_is_refused():
    blank = io.BytesIO()
    Image.new("RGBA", (400, 150), (0, 0, 0, 0)).save(blank, format="PNG")
    assert "empty" in refused("drawn", base64.b64encode(blank.getvalue()).decode())


def test_an_unknown_type_or_a_non_string_value_is_refused():
    assert "typed" in refused("stamp", "x")
    assert "string" in refused("drawn", 12)
