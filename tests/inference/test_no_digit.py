"""The no-digit rule (`preprocess.why_no_digit`): inputs without digit-like ink get the no-digit
answer, whatever their size or kind; real digits almost never do."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mnist_lightning.inference.preprocess import NoDigit, mnist_input, why_no_digit
from tests.helpers import mnist_test_digits, png_bytes


def _grey(array: np.ndarray) -> np.ndarray:
    return array.clip(0, 255).astype(np.uint8)


ANY_SIDE = st.integers(20, 400)


@st.composite
def non_digits(draw, sides=ANY_SIDE) -> np.ndarray:
    """An image with no digit: flat, noise of some kind, a pattern, or a dot."""
    side, seed = draw(sides), draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    kind = draw(st.sampled_from(["flat", "uniform", "gaussian", "salt", "checkerboard", "stripes", "dot"]))
    if kind == "flat":
        return np.full((side, side), draw(st.integers(0, 255)), dtype=np.uint8)
    if kind == "uniform":
        return rng.integers(0, 256, (side, side), dtype=np.uint8)
    if kind == "gaussian":
        level, sigma = draw(st.integers(40, 215)), draw(st.floats(10, 60))
        return _grey(level + rng.normal(0, sigma, (side, side)))
    if kind == "salt":
        density = draw(st.floats(0.005, 0.2))
        return np.where(rng.random((side, side)) < density, 255, 0).astype(np.uint8)
    period = draw(st.integers(1, max(1, side // 12)))  # a fine pattern: a dozen bars or more
    y, x = np.indices((side, side))
    if kind == "checkerboard":
        return ((y // period + x // period) % 2 * 255).astype(np.uint8)
    if kind == "stripes":
        return ((y // period) % 2 * 255).astype(np.uint8)
    dot = np.zeros((side, side), dtype=np.uint8)  # a dot up to 1/10 of the side, anywhere
    r = draw(st.integers(0, max(0, side // 20)))
    cy, cx = draw(st.integers(r, side - 1 - r)), draw(st.integers(r, side - 1 - r))
    dot[cy - r : cy + r + 1, cx - r : cx + r + 1] = 255
    return dot if draw(st.booleans()) else 255 - dot


@settings(max_examples=300, deadline=None)
@given(non_digits())
def test_an_image_without_a_digit_gets_the_no_digit_answer(image):
    with pytest.raises(NoDigit, match="^no digit: "):
        mnist_input(png_bytes(image))


@settings(max_examples=200, deadline=None)
@given(non_digits(sides=st.just(28)))
def test_json_pixels_without_a_digit_get_the_no_digit_answer(image):
    assert why_no_digit(np.asarray(image, dtype=np.float32) / 255) is not None


@pytest.mark.e2e
def test_real_test_digits_are_almost_never_refused():
    """The 10,000 MNIST test digits, as PNG files and as JSON pixels: < 0.5% refused (none today)."""
    images, _ = mnist_test_digits()
    refused_png = sum(_refused(png_bytes(image)) for image in images.numpy())
    refused_json = sum(why_no_digit(image / 255.0) is not None for image in images.numpy())
    assert refused_png / len(images) < 0.005 and refused_json / len(images) < 0.005, (
        refused_png,
        refused_json,
    )


def _refused(data: bytes) -> bool:
    try:
        mnist_input(data)
    except NoDigit:
        return True
    return False
