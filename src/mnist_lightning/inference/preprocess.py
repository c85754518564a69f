"""Turn an arbitrary image file into an MNIST-like 28x28 input.

MNIST digits are white on black, fit in a 20x20 box (aspect kept) and are centred by centre
of mass in a 28x28 field; a photo or a scan has to be brought to the same convention.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from mnist_lightning.errors import DataError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


def load_grey(path: Path) -> np.ndarray:
    """Greyscale float array in [0, 1]; transparency composited on white."""
    try:
        with Image.open(path) as image:
            image.load()
            if image.mode in ("RGBA", "LA", "P"):
                image = image.convert("RGBA")
                background = Image.new("RGBA", image.size, (255, 255, 255, 255))
                image = Image.alpha_composite(background, image)
            grey = ImageOps.grayscale(image)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable image ({exc})") from exc
    return np.asarray(grey, dtype=np.float32) / 255.0


def to_white_on_black(grey: np.ndarray) -> np.ndarray:
    """Invert when the background (the border's median) is light."""
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    return 1.0 - grey if np.median(border) > 0.5 else grey


def mnist_style(grey: np.ndarray) -> np.ndarray:
    """White-on-black array -> 28x28 float32: crop to ink, fit in 20x20, centre by mass."""
    ink = grey > 0.2 * grey.max() if grey.max() > 0 else np.zeros_like(grey, dtype=bool)
    if not ink.any():
        return np.zeros((28, 28), dtype=np.float32)
    rows, cols = np.nonzero(ink)
    crop = grey[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    scale = 20.0 / max(crop.shape)
    size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    small = np.asarray(Image.fromarray((crop * 255).astype(np.uint8)).resize(size, Image.LANCZOS), dtype=np.float32) / 255
    canvas = np.zeros((28, 28), dtype=np.float32)
    top, left = (28 - small.shape[0]) // 2, (28 - small.shape[1]) // 2
    canvas[top : top + small.shape[0], left : left + small.shape[1]] = small
    total = canvas.sum()
    cy, cx = (np.indices(canvas.shape) * canvas).reshape(2, -1).sum(1) / total
    shift_y, shift_x = int(round(14.0 - cy)), int(round(14.0 - cx))  # where MNIST puts the mass
    return np.roll(canvas, (shift_y, shift_x), axis=(0, 1)).clip(0, 1)


def preprocess_file(path: Path) -> np.ndarray:
    """An image file as the model's input row: 784 float32 values in [0, 1]."""
    return mnist_style(to_white_on_black(load_grey(path))).reshape(784)


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
