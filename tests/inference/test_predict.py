"""Preprocessing of real-world image files and the predict command."""

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mnist_lightning.errors import DataError
from mnist_lightning.inference.preprocess import (
    NoDigit,
    mnist_input,
    mnist_style,
    shift_with_zero_fill,
    to_white_on_black,
)
from mnist_lightning.persistence.restore import load_mlp
from tests.helpers import huge_png, png_bytes, run_script, synthetic_digits


def test_black_on_white_colour_image_is_inverted_fitted_and_centred(tmp_path):
    big = np.full((100, 60, 3), 255, dtype=np.uint8)
    big[10:90, 25:35] = (20, 30, 200)  # a tall blue stroke on white, off-centre
    Image.fromarray(big).save(tmp_path / "one.jpg")
    x = mnist_input(tmp_path / "one.jpg").reshape(28, 28)
    assert x.shape == (28, 28) and x.min() >= 0 and x.max() <= 1
    assert x[0].max() == 0 and x[:, 0].max() == 0  # background is black (inverted)
    rows = np.nonzero(x.max(axis=1) > 0.2)[0]
    assert 18 <= rows.max() - rows.min() + 1 <= 21  # longest side fitted into ~20 px
    cy, cx = (np.indices(x.shape) * x).reshape(2, -1).sum(1) / x.sum()
    assert abs(cy - 14) <= 1 and abs(cx - 14) <= 1  # centred by mass


def test_white_on_black_is_kept_and_a_blank_image_is_no_digit():
    grey = np.zeros((28, 28), dtype=np.float32)
    grey[5:20, 12:16] = 1.0
    assert to_white_on_black(grey) is grey
    with pytest.raises(NoDigit, match="no digit"):
        mnist_style(np.zeros((28, 28), dtype=np.float32))
    with pytest.raises(NoDigit):
        mnist_input(_png(np.full((50, 50), 255, dtype=np.uint8)))  # a blank white page


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def test_shift_drops_what_leaves_the_edge_instead_of_wrapping():
    image = np.arange(1, 10, dtype=np.float32).reshape(3, 3)
    assert shift_with_zero_fill(image, 1, 0).tolist() == [[0, 0, 0], [1, 2, 3], [4, 5, 6]]
    assert shift_with_zero_fill(image, 0, -2).tolist() == [[3, 0, 0], [6, 0, 0], [9, 0, 0]]
    assert shift_with_zero_fill(image, 3, 0).sum() == 0


def test_a_top_heavy_off_centre_glyph_never_wraps_around():
    """A 'T' whose mass sits in its bar: centring by mass moves it down until its stem touches the
    bottom edge; np.roll wrapped the rest of the stem into rows 0-2, above the bar."""
    grey = np.zeros((28, 28), dtype=np.float32)
    grey[0:4, 0:20] = 1.0  # a heavy bar at the very top left
    grey[4:20, 8:11] = 0.3  # a faint stem below it
    x = mnist_style(grey)
    bar_rows = np.nonzero(x.max(axis=1) > 0.5)[0]
    assert bar_rows.min() >= 6 and x[: bar_rows.min()].max() == 0  # nothing above the bar
    assert x[-1].max() > 0  # moved as far down as the stem allows...
    ink = 76 / 255  # 0.3 as a uint8 grey level
    assert x.sum() == pytest.approx(80 + 16 * 3 * ink)  # ...and no ink is lost or duplicated


def test_an_absurd_pixel_count_is_refused_from_the_header(tmp_path):
    with pytest.raises(DataError, match="12000x12000 pixels is far too large"):
        mnist_input(huge_png(12000, 12000))
    with pytest.raises(DataError, match="far too large"):
        mnist_input(huge_png(20000, 20000))  # beyond PIL's own decompression-bomb limit
    (tmp_path / "bomb.png").write_bytes(huge_png(20000, 20000))
    with pytest.raises(DataError, match="bomb.png: .*far too large"):
        mnist_input(tmp_path / "bomb.png")


def test_predict_classifies_files_reports_unreadable_once_and_writes_json(trained_run, tmp_path):
    images, labels = synthetic_digits(12, seed=5)
    for i, (image, label) in enumerate(zip(images, labels)):
        Image.fromarray(image).save(tmp_path / f"{i:02d}_{label}.png")
    (tmp_path / "zz_broken.png").write_bytes(b"not an image")
    out = tmp_path / "predictions.json"
    result = run_script(
        "predict.py", f"ckpt={trained_run}", f"inputs={tmp_path}", "results_as=json", f"results_file={out}"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert (result.stdout + result.stderr).count("zz_broken.png") == 0  # only in the output file, once
    records = json.loads(out.read_text())
    assert len(records) == 13 and "error" in records[-1] and "not a readable image" in records[-1]["error"]
    net, _, weights = load_mlp(trained_run)
    assert weights == "ema"
    rows = torch.from_numpy(np.stack([mnist_input(tmp_path / Path(r["file"]).name) for r in records[:-1]]))
    with torch.no_grad():
        probabilities = torch.softmax(net(rows), dim=1)
    for record, p in zip(records[:-1], probabilities):
        top = torch.argsort(p, descending=True)[:3].tolist()
        assert [t["digit"] for t in record["top"]] == top and record["digit"] == top[0]
        assert [t["probability"] for t in record["top"]] == pytest.approx(p[top].tolist(), abs=1e-6)


def test_predict_with_only_missing_or_broken_inputs_fails(trained_run, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    result = run_script("predict.py", f"ckpt={trained_run}", f"inputs=[{tmp_path / 'missing.png'},{broken}]")
    output = result.stdout + result.stderr
    assert result.returncode == 2, output[-2000:]
    assert f"{tmp_path / 'missing.png'}: not found" in output
    assert output.count("broken.png: not a readable image") == 1 and "none of the 2 input(s)" in output
    assert "Traceback" not in output


def test_predict_without_inputs_is_a_clear_error(trained_run):
    result = run_script("predict.py", f"ckpt={trained_run}")
    assert result.returncode == 2 and "inputs=" in result.stderr


def _encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _stroke_seven(size: int = 280) -> Image.Image:
    """A black 7 on white, as a photo of paper would show it."""
    from PIL import ImageDraw

    image = Image.new("L", (size, size), 255)
    ImageDraw.Draw(image).line(
        [(size * 0.25, size * 0.2), (size * 0.75, size * 0.2), (size * 0.45, size * 0.85)],
        fill=0,
        width=size // 12,
    )
    return image


def test_a_photo_stored_rotated_is_read_upright_as_its_exif_orientation_says():
    upright = _stroke_seven()
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to view": what phones write for a portrait photo
    stored = _encoded(upright.rotate(90, expand=True), "JPEG", quality=95, exif=exif.tobytes())
    plain = _encoded(upright.rotate(90, expand=True), "JPEG", quality=95)
    seen, want = mnist_input(stored), mnist_input(_encoded(upright, "JPEG", quality=95))
    assert np.abs(seen - want).max() < 0.1  # the same digit, up to JPEG rounding
    assert np.abs(mnist_input(plain) - want).max() > 0.5  # without the tag it would be sideways


def test_16_bit_grey_is_scaled_not_clipped():
    stroke16 = np.zeros((100, 100), dtype=np.uint16)
    stroke16[20:80, 45:55] = 32768  # a 50%-grey stroke on black, 16 bits per pixel
    stroke8 = (stroke16 // 257).astype(np.uint8)
    from_16 = mnist_input(_encoded(Image.fromarray(stroke16), "PNG"))
    assert Image.open(io.BytesIO(_encoded(Image.fromarray(stroke16), "PNG"))).mode.startswith("I")
    assert np.abs(from_16 - mnist_input(_png(stroke8))).max() < 2 / 255


@pytest.mark.parametrize("fmt", ["TIFF", "ICO", "PPM", "TGA"])
def test_only_the_formats_a_digit_comes_in_are_decoded(fmt):
    image = _stroke_seven(64).convert("RGB")
    with pytest.raises(DataError, match=r"not a PNG, JPEG, GIF, BMP or WebP image") as error:
        mnist_input(_encoded(image, fmt), "the upload")
    assert "0x" not in str(error.value) and "BytesIO" not in str(error.value)


def test_eps_is_never_handed_to_an_interpreter():
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n0 0 moveto 10 10 lineto stroke\nshowpage\n"
    with pytest.raises(DataError, match="not a PNG, JPEG"):
        mnist_input(eps, "the upload")


@pytest.mark.parametrize(
    "fmt, keep", [("PNG", 400), ("GIF", 300), ("BMP", 5000), ("WEBP", 200), ("JPEG", 1500)]
)
def test_a_file_cut_short_is_refused_not_guessed(fmt, keep):
    whole = _encoded(_stroke_seven(), fmt)
    assert mnist_input(whole).sum() > 10
    with pytest.raises(DataError, match="cut short"):
        mnist_input(whole[:keep], "the upload")


def test_a_jpeg_declaring_more_pixels_than_its_data_codes_is_refused():
    import struct

    small = bytearray(_encoded(Image.new("L", (16, 16), 128), "JPEG"))
    frame = small.find(b"\xff\xc0")
    small[frame + 5 : frame + 9] = struct.pack(
        ">HH", 7000, 7000
    )  # the header now says 49 Mpx; 333 bytes of data
    with pytest.raises(DataError, match="declares 7000x7000 pixels but holds only"):
        mnist_input(bytes(small), "the upload")


def test_large_images_are_decoded_within_budget():
    from mnist_lightning.inference import decoding as preprocess

    photo = _encoded(_stroke_seven(1000).resize((4000, 3000)), "JPEG", quality=85)  # a 12-Mpx phone photo
    grey = preprocess.load_grey(photo)
    assert grey.size <= 4 * preprocess.WORK_PIXELS  # decoded at reduced scale (draft mode), not 12 Mpx
    assert (
        np.abs(
            mnist_input(photo) - mnist_input(_encoded(_stroke_seven(1000).resize((400, 300)), "JPEG"))
        ).max()
        < 0.25
    )
    screen = np.full((2160, 3840), 255, dtype=np.uint8)
    screen[500:1500, 1800:2000] = 0
    assert preprocess.load_grey(_png(screen)).size <= preprocess.WORK_PIXELS  # a 4K screenshot: reduced
    with pytest.raises(DataError, match="limit 40,000,000 pixels for a L PNG"):
        mnist_input(huge_png(7000, 7000), "the upload")


def test_an_export_takes_no_weights_choice_and_a_cut_short_one_is_one_line(trained_run, tmp_path):
    export = run_script("export.py", f"ckpt={trained_run}", f"export_dir={tmp_path}", "format=all")
    assert export.returncode == 0, export.stderr[-2000:]
    digit = tmp_path / "digit.png"
    digit.write_bytes(png_bytes(np.zeros((28, 28), dtype=np.uint8)))
    for model in ("model.onnx", "model.pt2"):
        result = run_script("predict.py", f"ckpt={tmp_path / model}", f"inputs={digit}", "weights=raw")
        assert result.returncode == 2 and "has its ema weights baked in" in result.stderr, result.stderr
    whole = (tmp_path / "model.pt2").read_bytes()
    (tmp_path / "cut.pt2").write_bytes(whole[:-200])
    result = run_script("predict.py", f"ckpt={tmp_path / 'cut.pt2'}", f"inputs={digit}")
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and len(lines) == 1 and "cannot load this .pt2 model" in lines[0], lines
