"""Output places are checked before any work: each program's keys, every kind of place a user may give."""

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mnist_lightning.errors import UserError
from mnist_lightning.output_places import OUTPUT_PLACES, RUN_FOLDER, check_place
from tests.helpers import PROJECT_ROOT, run_script

PLACES = [(program, key, kind) for program, keys in OUTPUT_PLACES.items() for key, kind in keys.items()]
SHAPES = ["new", "new/deeper", "existing_folder", "existing_file", "under_a_file", "empty_name_folder"]


def make_place(root, shape):
    """A path of the drawn shape under `root` (made fresh for each case)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "a_file").write_text("x")
    (root / "a_folder").mkdir(exist_ok=True)
    return {
        "new": root / "out",
        "new/deeper": root / "out" / "deeper" / "x",
        "existing_folder": root / "a_folder",
        "existing_file": root / "a_file",
        "under_a_file": root / "a_file" / "x",
        "empty_name_folder": root / "a_folder" / "",
    }[shape]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(PLACES), st.sampled_from(SHAPES))
def test_every_output_place_is_writable_or_one_line_naming_it(place, shape):
    with tempfile.TemporaryDirectory() as root:
        check_one(place, shape, make_place(Path(root), shape))


def check_one(place, shape, path):
    _, key, kind = place
    label = None if key.startswith(RUN_FOLDER) else key
    try:
        check_place(label, str(path), kind)
    except UserError as exc:
        message = str(exc)
        assert "\n" not in message and str(path) in message
        assert (label is None) or message.startswith(f"{key}=")
        clash = (kind == "file" and path.is_dir()) or (kind == "folder" and path.is_file())
        assert clash or shape == "under_a_file", message
        return
    # accepted: the place really can be made and written as that kind
    assert shape not in ("under_a_file",)
    if kind == "folder":
        path.mkdir(parents=True, exist_ok=True)
        (path / "probe").write_text("ok")
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("ok")


def test_a_result_file_that_is_a_folder_is_refused_before_evaluating(trained_run, tmp_path):
    result = run_script(
        "evaluate.py", f"ckpt={trained_run}", f"results_file={tmp_path}", f"hydra.run.dir={tmp_path / 'run'}"
    )
    output = result.stdout + result.stderr
    assert result.returncode == 2 and "Traceback" not in output
    assert f"results_file={tmp_path} is a folder" in output
    assert "accuracy" not in output.lower()  # refused before loading anything


def test_a_run_folder_holding_a_folder_named_metrics_json_is_refused_before_training(
    synthetic_root, tmp_path
):
    run = tmp_path / "run"
    (run / "metrics.json").mkdir(parents=True)
    result = run_script(
        "train.py", f"data.root={synthetic_root}", f"hydra.run.dir={run}", "trainer.max_steps=20"
    )
    output = result.stdout + result.stderr
    assert result.returncode == 2 and "metrics.json (the run writes it) is a folder" in output
    assert not (run / "checkpoints").exists()


@pytest.mark.parametrize("program", ["train.py", "evaluate.py"])
@pytest.mark.parametrize("value", ["", "''", '""', " "])
def test_an_empty_run_folder_is_refused_before_hydra_writes_anything(program, value, tmp_path):
    before = set(os.listdir(PROJECT_ROOT))
    result = run_script(program, f"hydra.run.dir={value}", "ckpt=x", cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.startswith("error: hydra.run.dir= is empty")
    assert set(os.listdir(PROJECT_ROOT)) == before and not list(tmp_path.iterdir())


def test_a_run_folder_where_hydra_cannot_write_its_log_is_one_line(tmp_path):
    (tmp_path / "train.log").mkdir()
    result = run_script("train.py", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: Hydra cannot create the run's log file")
