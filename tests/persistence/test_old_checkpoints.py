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
UNIT_ROUNDOFF = 2.0**-24  # fp32
LAMBDA = 6.0  # the probabilistic bound below fails for a sum with probability < 2 exp(-LAMBDA^2 / 2) ~ 3e-8


def exact_logits_and_fp32_bound(
    net: torch.nn.Sequential, x: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The logits in float64 (exact for this purpose) and how far an fp32 forward may land from them.

    A GEMM library sums each dot product in an order of its own (by CPU, ISA and thread count), so
    fp32 logits agree across machines only up to rounding: for y = W h + b with n terms per sum,
    |error| <= LAMBDA sqrt(n) u (|W| |h| + |b|) + |W| |error of h|, Higham and Mary's probabilistic
    bound (SIAM J. Sci. Comput. 41(5), 2019; the worst case, n u, is ~30x looser here); ReLU passes
    an error on, never grows it.
    """
    h, bound = x.double(), torch.zeros_like(x, dtype=torch.float64)
    for module in net:
        if isinstance(module, torch.nn.Linear):
            w, b = module.weight.double(), module.bias.double()
            n = w.shape[1] + 1
            gamma = LAMBDA * n**0.5 * UNIT_ROUNDOFF
            bound = gamma * (h.abs() @ w.abs().T + b.abs()) + bound @ w.abs().T
            h = h @ w.T + b
        else:
            h = module(h)
    return h, bound


def assert_same_logits_as_when_written(net: torch.nn.Sequential, weights: str) -> None:
    """The stored logits were computed on another CPU: both they and this CPU's lie within the fp32
    rounding bound of the exact ones (at most 1.5e-3 here, for logits up to 1.55; CPUs were seen to
    differ by 2.1e-6). A wrong weight, bias, layer or average is far outside it."""
    with torch.no_grad():
        exact, bound = exact_logits_and_fp32_bound(net, INPUTS)
        stored = torch.tensor(EXPECTED[weights], dtype=torch.float64)
        assert bound.max() < 0.01 * exact.abs().max()  # the check still tells models apart
        assert ((stored - exact).abs() <= bound).all()
        assert ((net(INPUTS).double() - exact).abs() <= bound).all()


@pytest.mark.parametrize("weights", ["ema", "raw"])
def test_old_checkpoint_gives_the_same_logits_as_when_it_was_written(weights):
    net, checkpoint, used = load_mlp(FIXTURE, weights)
    assert used == weights and checkpoint["global_step"] == EXPECTED["global_step"] == 40
    assert_same_logits_as_when_written(net, weights)


def test_old_checkpoint_rebuilds_the_module_with_its_moving_average():
    module = MNISTClassifier.load_from_checkpoint(FIXTURE, weights_only=True)
    assert module.ema is not None and int(module.ema.n_averaged) == 41
    assert_same_logits_as_when_written(module.ema.module, "ema")


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
