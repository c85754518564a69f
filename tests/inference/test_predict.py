"""Preprocessing of real-world image files and the predict command."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mnist_lightning.inference.preprocess import mnist_style, preprocess_file, to_white_on_black
from mnist_lightning.persistence.restore import load_mlp
from tests.helpers import run_script, synthetic_digits


def test_black_on_white_colour_image_is_inverted_fitted_and_centred(tmp_path):
    big = np.full((100, 60, 3), 255, dtype=np.uint8)
    big[10:90, 25:35] = (20, 30, 200)  # a tall blue stroke on white, off-centre
    Image.fromarray(big).save(tmp_path / "one.jpg")
    x = preprocess_file(tmp_path / "one.jpg").reshape(28, 28)
    assert x.shape == (28, 28) and x.min() >= 0 and x.max() <= 1
    assert x[0].max() == 0 and x[:, 0].max() == 0  # background is black (inverted)
    rows = np.nonzero(x.max(axis=1) > 0.2)[0]
    assert 18 <= rows.max() - rows.min() + 1 <= 21  # longest side fitted into ~20 px
    cy, cx = (np.indices(x.shape) * x).reshape(2, -1).sum(1) / x.sum()
    assert abs(cy - 14) <= 1 and abs(cx - 14) <= 1  # centred by mass


def test_white_on_black_is_kept():
    grey = np.zeros((28, 28), dtype=np.float32)
    grey[5:20, 12:16] = 1.0
    assert to_white_on_black(grey) is grey
    assert mnist_style(np.zeros((28, 28), dtype=np.float32)).sum() == 0


def test_predict_classifies_files_skips_unreadable_and_writes_json(trained_run, tmp_path):
    images, labels = synthetic_digits(12, seed=5)
    for i, (image, label) in enumerate(zip(images, labels)):
        Image.fromarray(image).save(tmp_path / f"{i:02d}_{label}.png")
    (tmp_path / "zz_broken.png").write_bytes(b"not an image")
    out = tmp_path / "predictions.json"
    result = run_script("predict.py", f"model={trained_run}", f"inputs={tmp_path}", "format=json", f"output={out}")
    assert result.returncode == 0, result.stderr[-2000:]
    records = json.loads(out.read_text())
    assert len(records) == 13 and "error" in records[-1] and "not a readable image" in records[-1]["error"]
    net, _, weights = load_mlp(trained_run)
    assert weights == "ema"
    rows = torch.from_numpy(np.stack([preprocess_file(tmp_path / Path(r["file"]).name) for r in records[:-1]]))
    with torch.no_grad():
        probabilities = torch.softmax(net(rows), dim=1)
    for record, p in zip(records[:-1], probabilities):
        top = torch.argsort(p, descending=True)[:3].tolist()
        assert [t["digit"] for t in record["top3"]] == top and record["digit"] == top[0]
        assert [t["probability"] for t in record["top3"]] == pytest.approx(p[top].tolist(), abs=1e-6)


def test_predict_without_inputs_is_a_clear_error(trained_run):
    result = run_script("predict.py", f"model={trained_run}")
    assert result.returncode == 2 and "inputs=" in result.stderr
