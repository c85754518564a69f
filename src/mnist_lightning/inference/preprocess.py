"""Turn an arbitrary image (a file, an upload, a canvas) into an MNIST-like 28x28 input.

MNIST digits are white on black, fit in a 20x20 box (aspect kept) and are centred by centre
of mass in a 28x28 field; a photo, a scan or a drawing has to be brought to the same convention.
Every program that classifies images (predict, serve) goes through `mnist_input`.
"""

from __future__ import annotations

import io
import math
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from mnist_lightning.errors import DataError

# Decoded at all: the formats a phone, a browser or a scanner gives (never EPS/PS, which calls an
# external program, nor TIFF/ICO/JPEG 2000/AVIF, which a digit never needs).
IMAGE_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP")
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp"}
# Budgets, checked from the header before decoding (sizes in pixels):
# - a JPEG up to 50 Mpx (a 48-Mpx phone photo) is decoded at 1/2..1/8 scale (draft mode) to about
#   WORK_PIXELS, so it costs a few MB whatever its size;
# - other formats are decoded whole, so they may declare at most a 4K screen (8.3 Mpx: ~33 MB as RGBA);
# - every image is then reduced to about WORK_PIXELS before any float copy.
MAX_JPEG_PIXELS = 50_000_000
MAX_DECODED_PIXELS = 3840 * 2160
WORK_PIXELS = 1_000_000
MAX_FILE_BYTES = 64_000_000  # predict's files (the server's bodies have their own, lower limit)
# Below this contrast (max - min of the grey image) there is no ink: a blank page or canvas.
MIN_CONTRAST = 0.1
_JPEG_END, _JPEG_SCAN = b"\xff\xd9", b"\xff\xda"


class NoDigit(DataError):
    """The image is blank: there is nothing to classify."""


def _refuse_incomplete_jpeg(data: bytes, width: int, height: int, name: str) -> None:
    """A JPEG cut short, or whose header declares more pixels than its data codes, still decodes
    (libjpeg pads it with grey): refuse it instead of guessing a digit.

    Scan data never holds 0xFFD9 (0xFF is stuffed), so a whole image has an end marker after its
    last scan; and every 8x8 block of the full-resolution channel costs at least one bit of data.
    """
    if data.rfind(_JPEG_END) < data.rfind(_JPEG_SCAN):
        raise DataError(
            f"{name}: the JPEG data is cut short (no end marker after the last scan); send the whole file"
        )
    if len(data) < width * height / 512:
        raise DataError(
            f"{name}: the JPEG declares {width}x{height} pixels but holds only {len(data):,} bytes "
            "of data: it is cut short or corrupt"
        )


def _grey_array(image: Image.Image) -> np.ndarray:
    """Greyscale float32 in [0, 1]: transparency composited on white, 16-bit values scaled (not clipped)."""
    if image.mode.startswith("I"):  # 16-bit grey (I;16*) or 32-bit integers holding 16-bit values
        return np.asarray(image, dtype=np.float32) / 65535.0
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (
        image.mode == "P" and "transparency" in image.info
    ):
        grey, alpha = (np.asarray(band, dtype=np.float32) / 255.0 for band in image.convert("LA").split())
        return grey * alpha + (1.0 - alpha)
    return np.asarray(ImageOps.grayscale(image) if image.mode != "L" else image, dtype=np.float32) / 255.0


def _reduced(image: Image.Image) -> Image.Image:
    """At most about WORK_PIXELS, by box averaging (keeps thin strokes as grey, unlike skipping pixels)."""
    factor = math.ceil(math.sqrt(image.width * image.height / WORK_PIXELS))
    if factor <= 1:
        return image
    if image.mode.startswith("I;16"):
        image = image.convert("I")
    elif image.mode == "P":
        image = image.convert("RGBA")
    reduced = image.reduce(factor)
    reduced.info = dict(image.info)  # EXIF orientation travels with it
    return reduced


def load_grey(source: Path | bytes, name: str | None = None) -> np.ndarray:
    """Greyscale float array in [0, 1] from a file or bytes, within the budgets above; EXIF
    orientation applied, as phones store photos rotated."""
    name = name or (str(source) if isinstance(source, Path) else "the image")
    if isinstance(source, Path):
        if not source.is_file():
            raise DataError(f"{name}: not found" if not source.exists() else f"{name}: not a file")
        if source.stat().st_size > MAX_FILE_BYTES:
            raise DataError(
                f"{name}: {source.stat().st_size:,} bytes is far too large for an image of a digit "
                f"(limit {MAX_FILE_BYTES:,}); scale it down first"
            )
        source = source.read_bytes()
    readable = "PNG, JPEG, GIF, BMP or WebP"
    try:
        with warnings.catch_warnings():  # PIL warns above ~89 Mpx; the budgets above are far lower
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(source), formats=IMAGE_FORMATS)
        with image:
            width, height = image.size
            if image.format == "JPEG":
                if width * height > MAX_JPEG_PIXELS:
                    raise DataError(
                        f"{name}: {width}x{height} pixels is far too large for a digit "
                        f"(limit {MAX_JPEG_PIXELS:,} pixels for a JPEG); scale it down first"
                    )
                _refuse_incomplete_jpeg(source, width, height, name)
                scale = math.sqrt(width * height / WORK_PIXELS)
                image.draft("L", (math.ceil(width / scale), math.ceil(height / scale)))
            elif width * height > MAX_DECODED_PIXELS:
                raise DataError(
                    f"{name}: {width}x{height} pixels is far too large for a digit "
                    f"(limit {MAX_DECODED_PIXELS:,} pixels for a {image.format}); scale it down first"
                )
            image.load()
            image = ImageOps.exif_transpose(_reduced(image))
            return _grey_array(image)
    except DataError:
        raise
    except Image.DecompressionBombError as exc:
        raise DataError(f"{name}: far too large for a digit; scale it down first") from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as exc:
        detail = (
            "cut short or corrupt"
            if not isinstance(exc, UnidentifiedImageError)
            else f"not a {readable} image"
        )
        raise DataError(f"{name}: not a readable image ({detail}); send a whole {readable} file") from exc


def to_white_on_black(grey: np.ndarray) -> np.ndarray:
    """Invert when the background (the border's median) is light."""
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    return 1.0 - grey if np.median(border) > 0.5 else grey


def shift_with_zero_fill(image: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Move the image by (dy, dx) pixels; what leaves one edge is dropped, never wrapped to the other."""
    height, width = image.shape
    out = np.zeros_like(image)
    if abs(dy) >= height or abs(dx) >= width:
        return out
    out[max(dy, 0) : height + min(dy, 0), max(dx, 0) : width + min(dx, 0)] = image[
        max(-dy, 0) : height + min(-dy, 0), max(-dx, 0) : width + min(-dx, 0)
    ]
    return out


def mnist_style(grey: np.ndarray) -> np.ndarray:
    """White-on-black array -> 28x28 float32: crop to ink, fit in 20x20, centre by mass at (14, 14)."""
    if grey.max() - grey.min() < MIN_CONTRAST:
        raise NoDigit("no digit: the image is blank")
    ink = grey > grey.min() + 0.2 * (grey.max() - grey.min())
    rows, cols = np.nonzero(ink)
    crop = grey[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    scale = 20.0 / max(crop.shape)
    size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    small = (
        np.asarray(
            Image.fromarray((crop * 255).astype(np.uint8)).resize(size, Image.LANCZOS), dtype=np.float32
        )
        / 255
    )
    canvas = np.zeros((28, 28), dtype=np.float32)
    top, left = (28 - small.shape[0]) // 2, (28 - small.shape[1]) // 2
    canvas[top : top + small.shape[0], left : left + small.shape[1]] = small
    cy, cx = (np.indices(canvas.shape) * canvas).reshape(2, -1).sum(1) / canvas.sum()
    # Move the centre of mass to (14, 14), as MNIST did, but never so far that ink leaves the field:
    # a top-heavy 7 keeps its tail.
    rows, cols = np.nonzero(canvas)
    dy = int(np.clip(round(14.0 - cy), -rows.min(), 27 - rows.max()))
    dx = int(np.clip(round(14.0 - cx), -cols.min(), 27 - cols.max()))
    return shift_with_zero_fill(canvas, dy, dx).clip(0, 1)


def mnist_input(source: Path | bytes, name: str | None = None) -> np.ndarray:
    """An image file or encoded bytes as the model's input row: 784 float32 values in [0, 1].

    Raises DataError for what cannot be read (NoDigit for a blank image).
    """
    return mnist_style(to_white_on_black(load_grey(source, name))).reshape(784)


def image_files(inputs: list[str]) -> list[Path]:
    """Files named directly, plus image files inside named folders (sorted)."""
    found: list[Path] = []
    for item in inputs:
        path = Path(item).expanduser()
        if path.is_dir():
            found += sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        else:
            found.append(path)
    return found
