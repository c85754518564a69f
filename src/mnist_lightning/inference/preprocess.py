"""Turn an arbitrary image (a file, an upload, a canvas) into an MNIST-like 28x28 input.

MNIST digits are white on black, fit in a 20x20 box (aspect kept) and are centred by centre
of mass in a 28x28 field. A photo or a scan has to be brought to the same convention first: its
background (paper under uneven light, a shadow, sensor noise) is flattened to black, so that only
the ink is left. Every program that classifies images (predict, serve) goes through `mnist_input`;
every input, 784 JSON pixels included, goes through the no-digit rule (`why_no_digit`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image

from mnist_lightning.errors import DataError
from mnist_lightning.inference.decoding import load_grey

FLATTEN_SIDE = 256  # the ink is found on at most this many pixels a side
MEDIAN_SIDE = 64  # and the background's light estimated on at most this many
UNEVEN = 0.1  # a background whose level along the rim spreads wider (25th-75th percentile) is uneven
# The no-digit rule (docs/serving.md#no-digit). Ink is where a 3x3 mean of the flattened image
# reaches INK_SHARE of its peak. The thresholds keep a margin from the extremes of the 10,000 MNIST
# test digits (coherence >= 0.50, coverage <= 0.40, extent >= 0.54, never two opposite edges):
# benchmarks/no_digit_rule.py measures them and how often real digits are refused.
MIN_CONTRAST = 0.1  # peak ink below this: blank
INK_SHARE = 0.3
MIN_COHERENCE = 0.45  # neighbouring pixels' ink correlates less than this: noise or a fine texture
MAX_COVERAGE = 0.45  # ink over more of the image than this: a texture or a dark surface
MIN_EXTENT = 0.2  # ink spanning less than this share of the image's longer side: a dot or a speck


class NoDigit(DataError):
    """The image holds no digit-like ink: there is nothing to classify."""


def to_white_on_black(grey: np.ndarray) -> np.ndarray:
    """Invert when the background (the border's median) is light."""
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    return 1.0 - grey if np.median(border) > 0.5 else grey


def _median_filter(image: np.ndarray, size: int) -> np.ndarray:
    """Median over size-pixel runs along rows, then along columns (edges reflected): keeps gradients
    and shadow edges, removes strokes thinner than half the run. Edges are point-reflected, so a ramp runs on straight."""
    before, after = size // 2, size - 1 - size // 2
    for axis in (1, 0):
        padding = [(before, after) if a == axis else (0, 0) for a in (0, 1)]
        image = np.median(
            sliding_window_view(np.pad(image, padding, mode="reflect", reflect_type="odd"), size, axis=axis),
            axis=-1,
        )
    return image


def _mean3x3(image: np.ndarray) -> np.ndarray:
    """The mean over each pixel's 3x3 neighbourhood (edges repeated)."""
    padded = np.pad(image, 1, mode="edge")
    height, width = image.shape
    return sum(padded[i : i + height, j : j + width] for i in range(3) for j in range(3)) / 9


def _resized(image: np.ndarray, longest: int) -> np.ndarray:
    """A float image resized (box filter) so its longer side is `longest` pixels."""
    scale = longest / max(image.shape)
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    return np.asarray(Image.fromarray(image.astype(np.float32), "F").resize(size, Image.BOX))


def _background(image: np.ndarray) -> np.ndarray:
    """The light the paper would have without the ink: a median over a quarter of the image, taken on
    at most MEDIAN_SIDE pixels a side (light varies slowly) and scaled back up."""
    small = _resized(image, MEDIAN_SIDE) if max(image.shape) > MEDIAN_SIDE else image
    local = _median_filter(small, max(3, min(small.shape) // 4)).clip(0, 1)
    if local.shape == image.shape:
        return local
    return np.asarray(
        Image.fromarray(local.astype(np.float32), "F").resize(image.shape[::-1], Image.BILINEAR)
    )


def flattened(grey: np.ndarray) -> np.ndarray:
    """Ink in [0, 1] on black, whatever the light: white-on-black first, then each pixel's ink measured
    against the background around it (a median wider than a stroke), relative to how bright
    the paper is there, so a shadow or a lighting gradient is background, not ink."""
    image = to_white_on_black(grey)
    if max(image.shape) > FLATTEN_SIDE:
        image = _resized(image, FLATTEN_SIDE)
    local = _background(image)
    # An even background (a canvas, a scan, MNIST itself) is one level, the median of the image's
    # rim: the local median would also eat into bold strokes, which fill its window.
    ring = np.ones(image.shape, dtype=bool)
    inset = max(1, min(image.shape) // 8)
    ring[inset:-inset, inset:-inset] = False
    low, high = np.percentile(local[ring], [25, 75])
    background = local if high - low > UNEVEN else np.full_like(image, np.median(image[ring]))
    paper = np.maximum(1.0 - background, 0.05)  # how much brighter than the ink the paper is there
    return ((image - background) / paper).clip(0, 1).astype(np.float32)


def _coherence(ink: np.ndarray) -> float:
    """Correlation of each pixel's ink with its right and lower neighbours': ~0.7-0.95 for strokes,
    ~0 for noise, negative for a checkerboard."""
    centred = ink - ink.mean()
    variance = float((centred**2).mean())
    if variance == 0:
        return 0.0
    right = float((centred[:, :-1] * centred[:, 1:]).mean())
    down = float((centred[:-1] * centred[1:]).mean())
    return (right + down) / (2 * variance)


def _ink_mask(ink: np.ndarray) -> np.ndarray:
    """Where the ink is, ignoring isolated hot pixels (a 3x3 mean must still reach INK_SHARE of the peak)."""
    smooth = _mean3x3(ink)
    return smooth >= INK_SHARE * smooth.max()


def _crop_mask(ink: np.ndarray) -> np.ndarray:
    """The ink to crop to: above a fifth of the peak (faint edges and strokes kept, as MNIST's) and
    not alone (a pixel with no such neighbour is a speck of noise, which must not widen the crop)."""
    above = ink > 0.2 * ink.max()
    return above & (_mean3x3(above.astype(np.float32)) > 1.5 / 9)


def why_no_digit(ink: np.ndarray, before: np.ndarray | None = None) -> str | None:
    """The no-digit rule on white-on-black ink (a flattened image, or 28x28 JSON pixels): why it holds
    no digit, or None when it may. `before`: the image before flattening, whose texture counts too
    (flattening a fine pattern can leave a few lines of it)."""
    if ink.max() < MIN_CONTRAST:
        return "the image is blank"
    if min(_coherence(ink), _coherence(ink if before is None else before)) < MIN_COHERENCE:
        return "the image holds noise or a fine texture, not strokes"
    mask = _ink_mask(ink)
    if (mask[0].any() and mask[-1].any()) or (mask[:, 0].any() and mask[:, -1].any()):
        return "ink runs from one edge of the image to the opposite one: a pattern or a line, not a digit"
    if mask.mean() > MAX_COVERAGE:
        return f"ink covers {mask.mean():.0%} of the image: a texture or a dark surface, not a digit"
    rows, cols = np.nonzero(_crop_mask(ink))  # the ink as cropped, not widened by the 3x3 mean
    extent = max(rows.max() - rows.min() + 1, cols.max() - cols.min() + 1)
    if extent < MIN_EXTENT * max(ink.shape):
        return "the ink is a dot, too small to be a digit"
    return None


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


def mnist_style(ink: np.ndarray, before: np.ndarray | None = None) -> np.ndarray:
    """White-on-black ink -> 28x28 float32: crop to the ink, scale its peak to 1, fit in 20x20, centre
    by mass at (14, 14). NoDigit when the no-digit rule holds (`before`: see why_no_digit)."""
    why = why_no_digit(ink, before)
    if why:
        raise NoDigit(f"no digit: {why}")
    rows, cols = np.nonzero(_crop_mask(ink))
    crop = ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    crop = (crop / crop.max()).clip(0, 1)
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

    Raises DataError for what cannot be read (NoDigit when it holds no digit).
    """
    grey = load_grey(source, name)
    return mnist_style(flattened(grey), before=to_white_on_black(grey)).reshape(784)
