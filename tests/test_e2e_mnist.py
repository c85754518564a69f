"""End to end on the real MNIST (../shared/datasets/mnist): the tutorial's command, shortened."""

import json

import pytest

from tests.helpers import REAL_MNIST, run_script

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not REAL_MNIST.is_dir(), reason=f"real MNIST not found at {REAL_MNIST}"),
]


def test_tutorial_defaults_reach_real_accuracy_in_2000_steps(tmp_path):
    result = run_script(
        "train.py", f"data.root={REAL_MNIST}", "trainer.max_steps=2000", f"hydra.run.dir={tmp_path}", timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["step"] == 2000 and metrics["weights"] == "ema"
    assert metrics["test_acc_ema"] >= 0.97, metrics
    assert metrics["val_acc_ema"] >= 0.97, metrics
    assert "After 2000 training step(s), test accuracy using average model is" in result.stderr + result.stdout
