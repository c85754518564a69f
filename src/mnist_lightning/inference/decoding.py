"""Read an image file or upload into a greyscale array, within the decode budget (decode_budget.py).

Only the formats a phone, a browser or a scanner gives are decoded (never EPS/PS, which calls an
external program, nor TIFF/ICO/JPEG 2000/AVIF, which a digit never needs). Every image is reduced
to about WORK_PIXELS before any float copy.
"""

from __future__ import annotations

import io
import math
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from mnist_lightning.errors import DataError
from mnist_lightning.inference.decode_budget import (
    JPEG_FORMATS,
    JpegFrame,
    jpeg_frame,
    over_budget,
    webp_size,
)

IMAGE_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP")  # Pillow opens an MPO as its JPEG plugin's
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".mpo", ".gif", ".bmp", ".webp"}
READABLE = "PNG, JPEG, GIF, BMP or WebP"
WORK_PIXELS = 1_000_000
MAX_FILE_BYTES = 64_000_000  # predict's files (the server's bodies have their own, lower limit)


def _refuse_incomplete_jpeg(frame: JpegFrame, name: str) -> None:
    """A JPEG cut short, or whose header declares more pixels than its data codes, still decodes
    (libjpeg pads it with grey): refuse it instead of guessing a digit.

    Every 8x8 block of the full-resolution channel costs at least one bit of scan data.
    """
    if not frame.complete:
        raise DataError(
            f"{name}: the JPEG data is cut short (no end marker after the last scan); send the whole file"
        )
    if frame.scan_bytes < frame.width * frame.height / 512:
        raise DataError(
            f"{name}: the JPEG declares {frame.width}x{frame.height} pixels but holds only "
            f"{frame.scan_bytes:,} bytes of data: it is cut short or corrupt"
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
    elif image.mode == "1":  # a scanner's 1-bit page: reduce() takes no 1-bit images
        image = image.convert("L")
    reduced = image.reduce(factor)
    reduced.info = dict(image.info)  # EXIF orientation travels with it
    return reduced


def _read_file(path: Path, name: str) -> bytes:
    if not path.is_file():
        raise DataError(f"{name}: not found" if not path.exists() else f"{name}: not a file")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise DataError(
            f"{name}: {path.stat().st_size:,} bytes is far too large for an image of a digit "
            f"(limit {MAX_FILE_BYTES:,}); scale it down first"
        )
    return path.read_bytes()


def load_grey(source: Path | bytes, name: str | None = None) -> np.ndarray:
    """Greyscale float array in [0, 1] from a file or bytes, within the decode budget; EXIF
    orientation applied, as phones store photos rotated."""
    name = name or (str(source) if isinstance(source, Path) else "the image")
    data = _read_file(source, name) if isinstance(source, Path) else source
    canvas = webp_size(data)
    if canvas and (why := over_budget("WEBP", "RGBA", *canvas)):
        raise DataError(f"{name}: {why}; scale it down first")
    try:
        with warnings.catch_warnings():  # PIL warns above ~89 Mpx; the budget is far lower
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=IMAGE_FORMATS)
        with image:
            width, height = image.size
            frame = jpeg_frame(data) if image.format in JPEG_FORMATS else None  # its markers, walked once
            why = over_budget(image.format, image.mode, width, height, frame)
            if why:
                raise DataError(f"{name}: {why}; scale it down first")
            if image.format in JPEG_FORMATS:
                _refuse_incomplete_jpeg(frame, name)
                scale = math.sqrt(width * height / WORK_PIXELS)
                image.draft("L", (math.ceil(width / scale), math.ceil(height / scale)))
            image.load()
            image = ImageOps.exif_transpose(_reduced(image))
            return _grey_array(image)
    except DataError:
        raise
    except Image.DecompressionBombError as exc:
        raise DataError(f"{name}: far too large for a digit; scale it down first") from exc
    except MemoryError as exc:
        raise DataError(f"{name}: too large to decode within the memory budget; scale it down first") from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as exc:
        detail = (
            "cut short or corrupt"
            if not isinstance(exc, UnidentifiedImageError)
            else f"not a {READABLE} image"
        )
        raise DataError(f"{name}: not a readable image ({detail}); send a whole {READABLE} file") from exc


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
