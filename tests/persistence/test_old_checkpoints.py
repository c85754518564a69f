"""Checkpoints written before the restructuring (main at d6b109b) still load, with the same outputs."""

import json
from pathlib import Path

import pytest
import torch

from mnist_lightning.persistence.checkpoints import load_checkpoint
from mnist_lightning.persistence.restore import load_mlp
from mnist_lightning.training import MNISTClassifier
from mnist_lightning.training.run import train
from tests.helpers import compose_train, small_run_overrides

FIXTURE = Path(__file__).parents[1] / "fixtures" / "checkpoint_main_d6b109b.ckpt"
EXPECTED = json.loads(FIXTURE.with_suffix(".json").read_text())
INPUTS = torch.linspace(0, 1, 3 * 784).reshape(3, 784)  # the inputs the fixture's logits were computed on


@pytest.mark.parametrize("weights", ["ema", "raw"])
def test_old_checkpoint_gives_the_same_logits_as_when_it_was_written(weights):
    net, checkpoint, used = load_mlp(FIXTURE, weights)
    assert used == weights and checkpoint["global_step"] == EXPECTED["global_step"] == 40
    with torch.no_grad():
        assert torch.allclose(net(INPUTS), torch.tensor(EXPECTED[weights]), atol=1e-6)


def test_old_checkpoint_rebuilds_the_module_with_its_moving_average():
    module = MNISTClassifier.load_from_checkpoint(FIXTURE, weights_only=True)
    assert module.ema is not None and int(module.ema.n_averaged) == 41
    with torch.no_grad():
        assert torch.allclose(module(INPUTS), torch.tensor(EXPECTED["ema"]), atol=1e-6)


def test_old_checkpoint_resumes_at_its_step(synthetic_root, tmp_path):
    """It counted steps in Lightning's automatic-optimization progress; the module now steps manually."""
    out = tmp_path / "resumed"
    overrides = small_run_overrides(synthetic_root, out, steps=440) + [
        "model.hidden=[16]",
        f"ckpt_path={FIXTURE}",
        "trainer.val_check_interval=220",
    ]
    record = train(compose_train(overrides), out)
    assert record["step"] == 440 and [h["step"] for h in record["history"]] == [220, 440]
    # steps/s counts the 400 steps this process ran (not 440); both figures are rounded in metrics.json,
    # so the run is long enough (~1 s) for that rounding to stay under 2%
    assert record["steps_per_s"] * record["train_loop_s"] == pytest.approx(400, rel=0.05)
    resumed = load_checkpoint(out / "checkpoints" / "last.ckpt")
    assert resumed["global_step"] == 440 and int(resumed["state_dict"]["ema.n_averaged"]) == 441
