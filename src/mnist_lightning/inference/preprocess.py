"""Turn an arbitrary image (a file, an upload, a canvas) into an MNIST-like 28x28 input.

MNIST digits are white on black, fit in a 20x20 box (aspect kept) and are centred by centre
of mass in a 28x28 field; a photo, a scan or a drawing has to be brought to the same convention.
Every program that classifies images (predict, serve) goes through `mnist_input`.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from mnist_lightning.errors import DataError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
# Far beyond any photo of a digit (a 48-megapixel phone photo is 8000x6000); refused from the
# header, before decoding: a 136 KB PNG can declare 12000x12000 pixels (2.2 GB once decoded).
MAX_PIXELS = 50_000_000
# Below this contrast (max - min of the grey image) there is no ink: a blank page or canvas.
MIN_CONTRAST = 0.1


class NoDigit(DataError):
    """The image is blank: there is nothing to classify."""


def load_grey(source: Path | bytes, name: str | None = None) -> np.ndarray:
    """Greyscale float array in [0, 1] from a file or bytes; transparency composited on white."""
    name = name or (str(source) if isinstance(source, Path) else "the image")
    if isinstance(source, Path) and not source.is_file():
        raise DataError(f"{name}: not found" if not source.exists() else f"{name}: not a file")
    try:
        with warnings.catch_warnings():  # PIL warns above ~89 Mpx; we refuse above MAX_PIXELS ourselves
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(source if isinstance(source, Path) else io.BytesIO(source))
        with image:
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise DataError(
                    f"{name}: {width}x{height} pixels is far too large for a digit "
                    f"(limit {MAX_PIXELS:,} pixels); scale it down first"
                )
            image.load()
            if image.mode in ("RGBA", "LA", "P", "PA"):
                image = image.convert("RGBA")
                background = Image.new("RGBA", image.size, (255, 255, 255, 255))
                image = Image.alpha_composite(background, image)
            grey = ImageOps.grayscale(image)
    except Image.DecompressionBombError as exc:
        raise DataError(f"{name}: far too large for a digit ({exc})") from exc
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise DataError(f"{name}: not a readable image ({exc})") from exc
    return np.asarray(grey, dtype=np.float32) / 255.0


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
    small = np.asarray(Image.fromarray((crop * 255).astype(np.uint8)).resize(size, Image.LANCZOS), dtype=np.float32) / 255
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
