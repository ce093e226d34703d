"""Attached files are checked and made safe before anything is stored (core.files): images are
verified and written afresh, so their metadata and anything hidden after them are gone; files that
are not what they claim, image bombs and files over the limit are refused with a message."""

import io
import zlib

import pytest
from PIL import Image

from core import files
from core.errors import Invalid, TooLarge

LIMITS = {"image_limit": 4 * 1024 * 1024, "text_limit": 512 * 1024}
GPS_IFD = 0x8825


def picture(fmt="PNG", size=(120, 80), mode="RGB", **save) -> bytes:
    image = Image.new(mode, size, (200, 40, 40) if mode == "RGB" else None)
    out = io.BytesIO()
    image.save(out, format=fmt, **save)
    return out.getvalue()


def jpeg_with_gps() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0112] = 1  # Orientation
    exif[GPS_IFD] = {1: "N", 2: (48.0, 51.0, 24.0), 3: "E", 4: (2.0, 21.0, 3.0)}
    return picture("JPEG", exif=exif.tobytes())


def test_a_jpeg_with_a_gps_position_comes_out_without_any_exif():
    original = jpeg_with_gps()
    with Image.open(io.BytesIO(original)) as before:
        assert before.getexif().get_ifd(GPS_IFD), "the test image should carry a GPS position"
    prepared = files.prepare("holiday.jpeg", original, **LIMITS)
    assert (prepared.kind, prepared.content_type, prepared.filename) == ("image", "image/jpeg", "holiday.jpg")
    with Image.open(io.BytesIO(prepared.data)) as after:
        assert dict(after.getexif()) == {} and "exif" not in after.info
        assert after.size == (120, 80)
    assert b"PhoneMaker" not in prepared.data and b"Exif" not in prepared.data


def test_png_text_chunks_and_anything_appended_are_dropped():
    from PIL import PngImagePlugin

    meta = PngImagePlugin.PngInfo()
    meta.add_text("Author", "secret-author")
    data = picture("PNG", pnginfo=meta) + b"<script>alert(1)</script>PK\x03\x04zip-payload"
    prepared = files.prepare("shot.png", data, **LIMITS)
    assert b"secret-author" not in prepared.data and b"<script>" not in prepared.data
    assert b"zip-payload" not in prepared.data
    with Image.open(io.BytesIO(prepared.data)) as image:
        assert image.format == "PNG" and image.size == (120, 80)


@pytest.mark.parametrize("fmt,content_type,extension", [
    ("PNG", "image/png", "png"), ("JPEG", "image/jpeg", "jpg"), ("GIF", "image/gif", "gif"),
    ("WEBP", "image/webp", "webp")])
def test_each_accepted_format_is_kept_in_its_own_format(fmt, content_type, extension):
    prepared = files.prepare("Screen Shot 2026-12-04 at 10.00.00.png", picture(fmt), **LIMITS)
    assert prepared.content_type == content_type
    assert prepared.filename == f"Screen-Shot-2026-12-04-at-10.00.00.{extension}"  # the true extension
    with Image.open(io.BytesIO(prepared.data)) as image:
        assert image.format == fmt


def test_an_animated_gif_keeps_its_frames():
    frames = [Image.new("RGB", (40, 40), (n * 80, 0, 255 - n * 80)) for n in range(3)]
    out = io.BytesIO()
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:], duration=80, loop=0)
    with Image.open(io.BytesIO(out.getvalue())) as source:
        assert source.n_frames == 3
    prepared = files.prepare("spinner.gif", out.getvalue(), **LIMITS)
    with Image.open(io.BytesIO(prepared.data)) as image:
        assert image.n_frames == 3


def test_a_large_screenshot_gets_a_thumbnail_and_a_small_one_does_not():
    big = files.prepare("wide.png", picture("PNG", size=(2400, 1500)), **LIMITS)
    assert (big.width, big.height) == (2400, 1500)
    with Image.open(io.BytesIO(big.thumbnail)) as thumb:
        assert thumb.format == "WEBP" and thumb.width <= 800 and thumb.height <= 600
    assert files.prepare("small.png", picture("PNG"), **LIMITS).thumbnail is None


@pytest.mark.parametrize("name,data", [
    ("diagram.png",
     b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(1)</script></svg>'),
    ("page.png", b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"),
    ("photo.jpg", b"\xff\xd8\xff\xe0 this is no jpeg at all, only its first bytes"),
    ("notes.png", b"plain words, not a picture"),
    ("archive.webp", b"PK\x03\x04" + b"\x00" * 64),
])
def test_a_file_that_claims_to_be_an_image_but_is_not_is_refused(name, data):
    with pytest.raises(Invalid, match="not a picture Peerline can read|damaged"):
        files.prepare(name, data, **LIMITS)


@pytest.mark.parametrize("name", ["drawing.svg", "index.html", "setup.exe", "report.pdf", "noextension"])
def test_other_kinds_of_file_are_refused_with_what_is_accepted(name):
    with pytest.raises(Invalid, match="PNG, JPEG, GIF or WebP image, or a .txt or .log"):
        files.prepare(name, b"<svg><script>alert(1)</script></svg>", **LIMITS)


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims huge dimensions: an image bomb (its data would never fill it)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")
    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 100))
            + chunk(b"IEND", b""))


@pytest.mark.parametrize("width,height", [(100_000, 100_000), (60_000, 10), (9_000, 9_000)])
def test_an_image_bomb_is_refused_before_it_is_decoded(width, height):
    data = _png_claiming(width, height)
    assert len(data) < 200
    with pytest.raises(TooLarge, match="million pixels"):
        files.prepare("bomb.png", data, **LIMITS)


def test_a_file_over_the_limit_is_refused_with_both_sizes():
    data = picture("PNG", size=(1200, 1200), mode="RGB")
    with pytest.raises(TooLarge, match=r"attachments may be at most 1 KB"):
        files.prepare("shot.png", data, image_limit=1024, text_limit=1024)


def test_a_text_log_is_kept_as_utf8_text_and_a_binary_one_is_refused():
    log = "2026-12-04 ERROR sync failed: €\n<script>alert(1)</script>\n".encode()
    prepared = files.prepare("../../etc/server.log", b"\xef\xbb\xbf" + log, **LIMITS)
    assert (prepared.kind, prepared.filename) == ("text", "server.log")
    assert prepared.content_type == files.TEXT_TYPE
    assert prepared.data == log  # as written (without the byte-order mark); served as text/plain
    with pytest.raises(Invalid, match="not a text file"):
        files.prepare("dump.txt", b"\x00\x01\x02binary", **LIMITS)
    with pytest.raises(Invalid, match="not a text file"):
        files.prepare("latin.txt", "caf\xe9".encode("latin-1"), **LIMITS)
    with pytest.raises(TooLarge, match="text files may be at most 1 KB"):
        files.prepare("big.log", b"x" * 2048, image_limit=10_000, text_limit=1024)
    with pytest.raises(Invalid, match="empty"):
        files.prepare("empty.log", b"", **LIMITS)


def test_file_names_lose_folders_and_odd_characters():
    assert files.clean_filename("C:\\Users\\me\\Desktop\\bug <1>.PNG", "png") == "bug-1.png"
    assert files.clean_filename("../../.htaccess", "txt") == "file.txt"
    assert files.clean_filename("エラー画面.png", "png") == "エラー画面.png"
    assert files.clean_filename("x" * 500 + ".png", "png").endswith(".png")
    assert len(files.clean_filename("x" * 500 + ".png", "png")) <= files.NAME_MAX
