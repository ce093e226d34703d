"""Files people attach, checked and made safe before anything is stored: images verified and
re-encoded with Pillow (which drops EXIF, GPS positions, text chunks and colour profiles, and leaves
nothing of a polyglot but the picture), small UTF-8 text files (.txt, .log) kept as they are, and
everything else refused with a message that says why. No domain knowledge: limits are passed in."""

import io
import re
import unicodedata
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

from core.errors import Invalid, TooLarge

# What Pillow calls each accepted format: (content type, extension).
IMAGE_FORMATS = {"PNG": ("image/png", "png"), "JPEG": ("image/jpeg", "jpg"),
                 "GIF": ("image/gif", "gif"), "WEBP": ("image/webp", "webp")}
TEXT_EXTENSIONS = frozenset({"txt", "log"})
TEXT_TYPE = "text/plain; charset=utf-8"
ACCEPTED = "a PNG, JPEG, GIF or WebP image, or a .txt or .log text file"
MAX_PIXELS = 40_000_000  # 8,000 x 5,000: a screenshot of several screens; more is a bomb
MAX_SIDE = 16_000
MAX_FRAMES = 300  # an animated GIF or WebP
THUMB_SIZE = (800, 600)  # fits a post's column; the full image opens on click
NAME_MAX = 100


@dataclass(frozen=True)
class Prepared:
    """A file ready to store: `data` is what will be served, never the bytes that came in."""

    kind: str  # "image" or "text"
    filename: str
    content_type: str
    data: bytes
    width: int | None = None
    height: int | None = None
    thumbnail: bytes | None = None  # a smaller copy, when the image is larger than THUMB_SIZE


def clean_filename(name: str | None, extension: str | None = None) -> str:
    """A file name safe to show and to send back: no folders, no control or odd characters, at most
    NAME_MAX characters, ending in `extension` (the real one, whatever the name claimed)."""
    name = unicodedata.normalize("NFKC", (name or "").replace("\\", "/").rsplit("/", 1)[-1])
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    stem = re.sub(r"[^\w.-]+", "-", stem).strip(".-_")[:NAME_MAX - 8] or "file"
    return f"{stem}.{extension or ext.lower() or 'bin'}"


def extension_of(name: str | None) -> str:
    base = (name or "").rsplit("/", 1)[-1]
    return base.rpartition(".")[2].lower() if "." in base else ""


def prepare(filename: str | None, data: bytes, *, image_limit: int, text_limit: int) -> Prepared:
    """Check one file and make it safe to store. Raises Invalid (not a file Peerline accepts, or not
    what it claims to be) or TooLarge (over the limit in bytes, or an image too large to open)."""
    if not data:
        raise Invalid("The file is empty.", field="file")
    if extension_of(filename) in TEXT_EXTENSIONS:
        return _prepare_text(filename, data, text_limit)
    if len(data) > image_limit:
        raise TooLarge(f"The file is {_size(len(data))}; attachments may be at most {_size(image_limit)}.",
                       field="file")
    return _prepare_image(filename, data)


def _size(count: int) -> str:
    if count >= 1024 * 1024:
        return f"{count / (1024 * 1024):.1f} MB".replace(".0 MB", " MB")
    return f"{max(1, round(count / 1024))} KB"


def _prepare_text(filename: str | None, data: bytes, limit: int) -> Prepared:
    if len(data) > limit:
        raise TooLarge(f"The text file is {_size(len(data))}; text files may be at most {_size(limit)}. "
                       "Attach the part of the log around the error.", field="file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Invalid("This is not a text file (it is not UTF-8 text): attach " + ACCEPTED + ".",
                      field="file") from None
    if "\x00" in text:
        raise Invalid("This is not a text file (it holds binary data): attach " + ACCEPTED + ".",
                      field="file")
    return Prepared("text", clean_filename(filename, extension_of(filename)), TEXT_TYPE,
                    text.encode("utf-8"))


def _not_an_image(filename: str | None) -> Invalid:
    claimed = extension_of(filename)
    said = f"It is called .{claimed} but it is not" if claimed else "It is not"
    return Invalid(f"{said} a picture Peerline can read. Attach {ACCEPTED}.", field="file")


def _prepare_image(filename: str | None, data: bytes) -> Prepared:
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as probe:  # reads the header only
                kind = probe.format
                if kind not in IMAGE_FORMATS:
                    raise _not_an_image(filename)
                _check_dimensions(*probe.size)
                probe.verify()
            with Image.open(io.BytesIO(data)) as image:
                frames = getattr(image, "n_frames", 1)
                if frames > MAX_FRAMES:
                    raise TooLarge(f"This animation has {frames} frames; at most {MAX_FRAMES}.", field="file")
                if frames * image.width * image.height > MAX_PIXELS * 4:
                    raise _too_large(image.width, image.height)
                encoded, full = _reencode(image, kind)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise TooLarge(f"This image claims too many pixels to open; attach one of at most "
                           f"{MAX_PIXELS // 1_000_000} million pixels.", field="file") from None
        except UnidentifiedImageError:
            raise _not_an_image(filename) from None
        except (OSError, SyntaxError, ValueError, EOFError):  # truncated or corrupt: Pillow's words for it
            raise Invalid("This image is damaged (it could not be read to the end). Save it again and "
                          "attach the new copy.", field="file") from None
    content_type, extension = IMAGE_FORMATS[kind]
    thumbnail = None
    if full.width > THUMB_SIZE[0] or full.height > THUMB_SIZE[1]:
        thumbnail = _thumbnail(full)
    return Prepared("image", clean_filename(filename, extension), content_type, encoded, full.width,
                    full.height, thumbnail)


def _too_large(width: int, height: int) -> TooLarge:
    return TooLarge(f"This image is {width:,} x {height:,} pixels, too large to show; attach one of at "
                    f"most {MAX_PIXELS // 1_000_000} million pixels (a screenshot is far less).",
                    field="file")


def _check_dimensions(width: int, height: int) -> None:
    if width < 1 or height < 1:
        raise Invalid("This image has no pixels.", field="file")
    if width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
        raise _too_large(width, height)


def _reencode(image: Image.Image, kind: str) -> tuple[bytes, Image.Image]:
    """The picture alone, written afresh: Pillow writes no metadata it is not handed, so EXIF, GPS,
    comments and anything appended to the file stay behind. Returns the bytes and the first frame."""
    out = io.BytesIO()
    animated = getattr(image, "n_frames", 1) > 1 and kind in ("GIF", "WEBP")
    if animated:
        frames = [frame.copy() for frame in ImageSequence.Iterator(image)]
        first = frames[0]
        first.save(out, format=kind, save_all=True, append_images=frames[1:], loop=image.info.get("loop", 0),
                   duration=image.info.get("duration", 100), **({"lossless": True} if kind == "WEBP" else {}))
        return out.getvalue(), first.convert("RGBA")
    image.load()
    if kind == "JPEG":
        picture = ImageOps.exif_transpose(image)  # keep the way up the camera meant, then drop the EXIF
        if picture.mode not in ("RGB", "L"):
            picture = picture.convert("RGB")
        picture.save(out, format="JPEG", quality=90, optimize=True)
    elif kind == "WEBP":
        picture = image.copy()
        picture.save(out, format="WEBP", quality=90)
    else:
        picture = image.copy()
        picture.save(out, format=kind)
    return out.getvalue(), picture


def _thumbnail(image: Image.Image) -> bytes:
    small = image.copy()
    if small.mode not in ("RGB", "RGBA"):
        small = small.convert("RGBA")
    small.thumbnail(THUMB_SIZE)
    out = io.BytesIO()
    small.save(out, format="WEBP", quality=85)
    return out.getvalue()
