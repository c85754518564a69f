"""Preprocessing of real-world image files and the predict command."""

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mnist_lightning.errors import DataError
from mnist_lightning.inference.preprocess import NoDigit, mnist_input, mnist_style, shift_with_zero_fill, to_white_on_black
from mnist_lightning.persistence.restore import load_mlp
from tests.helpers import huge_png, run_script, synthetic_digits


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
    result = run_script("predict.py", f"ckpt={trained_run}", f"inputs={tmp_path}", "results_as=json", f"results_file={out}")
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
