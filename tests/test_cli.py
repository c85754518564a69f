"""The command lines users type, run as subprocesses."""

import json

import pytest
from omegaconf import OmegaConf

from tests.helpers import run_script, small_run_overrides, sweep_overrides


def test_train_variant_from_the_command_line(synthetic_root, tmp_path):
    result = run_script("train.py", "ema=off", "reg=l2", *small_run_overrides(synthetic_root, tmp_path, steps=40))
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["weights"] == "raw" and "test_acc_ema" not in metrics and metrics["step"] == 40
    assert "After 40 training step(s), validation accuracy using raw weights is" in result.stdout + result.stderr
    resolved = (tmp_path / ".hydra" / "resolved.yaml").read_text()
    assert "ema_decay: null" in resolved and "${" not in resolved


def test_multirun_sweeps_lr_into_separate_job_folders(synthetic_root, tmp_path):
    overrides = sweep_overrides(synthetic_root, steps=20, free=("lr",))
    result = run_script("train.py", "-m", "lr=0.1,0.8", *overrides, f"hydra.sweep.dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = sorted(p.parent.name for p in tmp_path.glob("*/metrics.json"))
    assert len(jobs) == 2 and jobs[0].startswith("0_") and "lr=0.1" in jobs[0] and "lr=0.8" in jobs[1]
    lrs = [OmegaConf.load(tmp_path / job / ".hydra" / "resolved.yaml").lr for job in jobs]
    assert lrs == [0.1, 0.8]


def test_invalid_config_is_one_clear_line_before_training(tmp_path):
    result = run_script("train.py", "ema.decay=1.5", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 2
    assert "error: invalid config value ema.decay=1.5" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr and not (tmp_path / "checkpoints").exists()


def test_missing_data_is_one_clear_error(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_script("train.py", f"data.root={empty}", "data.download=false", f"hydra.run.dir={tmp_path / 'run'}")
    output = result.stderr + result.stdout
    assert result.returncode == 2 and "Traceback" not in output
    assert "mnist not found" in output and str(empty) in output and "Fix:" in output


@pytest.mark.parametrize(
    "override, message",
    [
        ("optimizer=lbfgs", "Could not find 'optimizer/lbfgs'"),
        ("lr=fast", "invalid config value lr='fast'"),
        ("data.batch_size=5000", "data.batch_size=5000 is larger than the training set"),
        ("model.hidden=[0]", "invalid config value model.hidden=[0]"),
        ("ema.decay=1.5", "invalid config value ema.decay=1.5"),
    ],
)
def test_bad_config_fails_clearly_and_writes_nothing(synthetic_root, tmp_path, override, message):
    result = run_script("train.py", *small_run_overrides(synthetic_root, tmp_path, steps=20), override)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and message in output, output[-2000:]
    assert "Traceback" not in output
    assert not (tmp_path / "checkpoints").exists() and not (tmp_path / "metrics.json").exists()


def test_output_folder_that_is_a_file_is_a_clear_error(tmp_path):
    blocker = tmp_path / "outputs"
    blocker.write_text("a file where the run folder should go")
    result = run_script("train.py", f"hydra.run.dir={blocker / 'run'}")
    assert result.returncode == 2
    assert "must be a writable folder, not a file" in result.stderr and "Traceback" not in result.stderr
    assert blocker.read_text() == "a file where the run folder should go"
