"""Image checks: format by content, complete decoding, sane sizes, the same-picture test."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from mindlinks.kyc.images import (
    MAX_SIDE,
    MIN_SIDE,
    SAME_PICTURE_DISTANCE,
    ImageRejected,
    check_image,
    hamming,
    read_limited,
    same_picture,
)
from tests.kyc.factories import document_image, encode, selfie_image


class CountingStream(io.RawIOBase):
    """An endless stream of zeros that counts what was read from it."""

    def __init__(self) -> None:
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        n = len(buffer)
        buffer[:n] = bytes(n)
        self.read_bytes += n
        return n


@pytest.mark.parametrize(
    ("fmt", "content_type"), [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp")]
)
def test_accepts_jpeg_png_and_webp_by_content(fmt, content_type):
    data = encode(document_image(3), fmt)
    checked = check_image(data)
    assert checked.format == fmt
    assert checked.content_type == content_type
    assert (checked.width, checked.height) == (860, 540)
    assert checked.size == len(data)
    assert len(checked.sha256) == 64


@pytest.mark.parametrize(
    "data",
    [
        b"%PDF-1.7\n1 0 obj << >> endobj\n",
        b"GIF89a" + bytes(200),
        b"<svg xmlns='http://www.w3.org/2000/svg'></svg>",
        b"just some text that claims to be a photo",
    ],
    ids=["pdf", "gif-header", "svg", "text"],
)
def test_refuses_a_file_that_is_not_an_image_we_accept(data):
    with pytest.raises(ImageRejected, match="not a JPEG, PNG or WebP"):
        check_image(data)


def test_refuses_other_image_formats_even_when_pillow_reads_them():
    for fmt in ("GIF", "BMP", "TIFF"):
        with pytest.raises(ImageRejected, match="not a JPEG, PNG or WebP"):
            check_image(encode(document_image(1), fmt))


def test_refuses_an_empty_file():
    with pytest.raises(ImageRejected, match="empty"):
        check_image(b"")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
@pytest.mark.parametrize("keep", [0.5, 0.95])
def test_refuses_a_truncated_image(fmt, keep):
    data = encode(document_image(4), fmt)
    with pytest.raises(ImageRejected, match="damaged or truncated"):
        check_image(data[: int(len(data) * keep)])


def test_a_truncated_image_is_refused_after_the_pdf_engine_is_loaded():
    # WeasyPrint turns on Pillow's LOAD_TRUNCATED_IMAGES when imported; the app
    # imports it through platform.pdf_engine, which restores the strict default.
    import mindlinks.contracts.rendering  # noqa: F401

    data = encode(document_image(4), "JPEG")
    with pytest.raises(ImageRejected, match="damaged or truncated"):
        check_image(data[: len(data) // 2])


def test_refuses_a_png_with_a_corrupted_chunk():
    data = bytearray(encode(document_image(5), "PNG"))
    data[len(data) // 2] ^= 0xFF
    with pytest.raises(ImageRejected, match="damaged or truncated"):
        check_image(bytes(data))


def test_refuses_images_too_small_or_too_large_a_side():
    with pytest.raises(ImageRejected, match=f"at least {MIN_SIDE}"):
        check_image(encode(Image.new("RGB", (MIN_SIDE - 1, 400), "white"), "PNG"))
    with pytest.raises(ImageRejected, match=f"at most {MAX_SIDE}"):
        check_image(encode(Image.new("L", (MAX_SIDE + 1, 300), 0), "PNG"))


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims a size; its one IDAT holds almost nothing."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def test_refuses_a_decompression_bomb_before_decoding_it():
    # 9000 x 9000 (81 MP) would inflate to 243 MB of RGB; its header alone is refused.
    with pytest.raises(ImageRejected, match="more than"):
        check_image(_png_header_only(9000, 9000))
    # Past Pillow's own bomb limit, Pillow refuses it at open; the answer is the same.
    with pytest.raises(ImageRejected, match="more than"):
        check_image(_png_header_only(60000, 60000))


def test_refuses_an_animated_image():
    frames = [document_image(1), document_image(2)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "WEBP", save_all=True, append_images=frames[1:])
    with pytest.raises(ImageRejected, match="animated"):
        check_image(buffer.getvalue())


def test_read_limited_reads_no_more_than_one_byte_past_the_limit():
    stream = CountingStream()
    with pytest.raises(ImageRejected, match="larger than 10 MB"):
        read_limited(io.BufferedReader(stream, buffer_size=64 * 1024), 10 * 1024 * 1024)
    # A 50 MB (or endless) upload costs what an accepted one does, plus a buffer.
    assert stream.read_bytes <= 10 * 1024 * 1024 + 64 * 1024


def test_read_limited_answers_a_file_at_the_limit():
    assert read_limited(io.BytesIO(b"x" * 1000), 1000) == b"x" * 1000


def test_the_same_file_is_the_same_picture():
    data = encode(selfie_image(1))
    assert same_picture(check_image(data), check_image(data))


@pytest.mark.parametrize(
    "reencode",
    [
        lambda img: encode(img, "PNG"),
        lambda img: encode(img, "WEBP", quality=60),
        lambda img: encode(img, "JPEG", quality=40),
        lambda img: encode(img.resize((img.width // 2, img.height // 2)), "JPEG"),
        lambda img: encode(img.convert("L"), "JPEG"),
    ],
    ids=["png", "webp-q60", "jpeg-q40", "half-size", "greyscale"],
)
def test_a_reencoded_copy_is_the_same_picture(reencode):
    original = document_image(7)
    first = check_image(encode(original, "JPEG"))
    copy = check_image(reencode(original))
    assert first.sha256 != copy.sha256
    assert same_picture(first, copy), hamming(first.dhash, copy.dhash)


def test_exif_orientation_is_applied_before_comparing():
    picture = selfie_image(2)
    upright = check_image(encode(picture))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display": the stored pixels are turned back
    turned = check_image(encode(picture.transpose(Image.Transpose.ROTATE_90), exif=exif.tobytes()))
    assert same_picture(upright, turned)


def test_different_pictures_are_not_the_same():
    documents = [check_image(encode(document_image(seed))) for seed in range(1, 6)]
    selfies = [check_image(encode(selfie_image(seed))) for seed in range(1, 6)]
    for document in documents:
        for selfie in selfies:
            assert hamming(document.dhash, selfie.dhash) > SAME_PICTURE_DISTANCE
            assert not same_picture(document, selfie)
