"""The training step (training/step.py): one copy of the math, whatever runs it and however its gradients come."""

import csv

import pytest
import torch
from hydra.utils import instantiate

from mnist_lightning.data import MNISTDataModule
from mnist_lightning.errors import ConfigError
from mnist_lightning.training.run import train
from mnist_lightning.training.step import TutorialStep, choose_gradients
from tests.helpers import compose_train, small_run_overrides

QUIET = ["test=false", "~callbacks.progress_bar", "torch_threads=1"]


def _run(synthetic_root, out, *extra):
    cfg = compose_train(small_run_overrides(synthetic_root, out, steps=60) + QUIET + list(extra))
    record = train(cfg, out)
    return cfg, record, torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)


def _logged(out):
    with open(out / "metrics.csv") as f:
        return list(csv.DictReader(f))


def test_steps_per_call_changes_the_speed_only(synthetic_root, tmp_path):
    """10 steps per Lightning call against 1: the same weights and average bit for bit, and validations,
    checkpoints and logged values at the same steps."""
    _, one, one_ckpt = _run(synthetic_root, tmp_path / "one", "steps_per_call=1")
    _, ten, ten_ckpt = _run(synthetic_root, tmp_path / "ten", "steps_per_call=10")
    assert ten_ckpt["MNISTDataModule"] == {"steps_per_call": 10}
    assert one["step"] == ten["step"] == ten_ckpt["global_step"] == 60
    for name, tensor in one_ckpt["state_dict"].items():
        assert torch.equal(tensor, ten_ckpt["state_dict"][name]), name
    assert one["history"] == ten["history"] and [r["step"] for r in ten["history"]] == [20, 40, 60]
    assert sorted(p.name for p in (tmp_path / "ten" / "checkpoints").iterdir()) == [
        "last.ckpt",
        "step000020.ckpt",
        "step000040.ckpt",
        "step000060.ckpt",
    ]
    assert sorted(p.name for p in (tmp_path / "one" / "checkpoints").iterdir()) == sorted(
        p.name for p in (tmp_path / "ten" / "checkpoints").iterdir()
    )
    assert _logged(tmp_path / "one") == _logged(tmp_path / "ten")
    steps = [int(row["step"]) for row in _logged(tmp_path / "ten") if row["train/loss"]]
    assert steps == [10, 20, 30, 40, 50, 60]


def test_lightning_runs_the_same_step_as_a_plain_loop(synthetic_root, tmp_path):
    """The LightningModule adds nothing to the math: TutorialStep in a hand-written loop over the same
    batches ends with the same weights and moving average, bit for bit."""
    cfg, record, checkpoint = _run(synthetic_root, tmp_path / "run")
    torch.manual_seed(cfg.seed)
    module = instantiate(cfg.module, _convert_="all")
    data = MNISTDataModule(**{k: v for k, v in cfg.data.items() if k != "_target_"})
    data.setup("fit")
    batches = data.train_dataloader()
    optimizers = module.configure_optimizers()
    gradients = choose_gradients(module.net, torch.float32, torch.device("cpu"), single_process=True)
    step = TutorialStep(
        module.net, optimizers["optimizer"], optimizers["lr_scheduler"]["scheduler"], module.ema, gradients
    )
    done, epoch = 0, 0
    while done < record["step"]:
        batches.sampler.set_epoch(epoch)
        for images, labels in batches:
            step(images[0], labels[0], done)  # items are stacks of one batch here
            done += 1
            if done == record["step"]:
                break
        epoch += 1
    for name, tensor in module.state_dict().items():
        if name.startswith(("net.", "ema.")):
            assert torch.equal(tensor, checkpoint["state_dict"][name]), name


@pytest.mark.parametrize("hidden", [[500], [64, 32]])
def test_hand_written_gradients_train_like_autograd(hidden):
    """Five tutorial steps with the hand-written gradients and with autograd through the nn.Sequential
    (what DDP runs) agree to fp32 rounding (the GEMMs are oriented differently, so not bitwise)."""
    from mnist_lightning.training import MNISTClassifier

    generator = torch.Generator().manual_seed(0)
    batches = [
        (torch.rand(100, 784, generator=generator), torch.randint(0, 10, (100,), generator=generator))
        for _ in range(5)
    ]
    trained = []
    for single_process in (True, False):
        torch.manual_seed(0)
        module = MNISTClassifier(net={"hidden": hidden})
        optimizers = module.configure_optimizers()
        gradients = choose_gradients(module.net, torch.float32, torch.device("cpu"), single_process)
        step = TutorialStep(
            module.net,
            optimizers["optimizer"],
            optimizers["lr_scheduler"]["scheduler"],
            module.ema,
            gradients,
        )
        losses = [float(step(x, y, i)) for i, (x, y) in enumerate(batches)]
        trained.append((losses, module.state_dict()))
    (hand_losses, hand), (auto_losses, auto) = trained
    assert hand_losses == pytest.approx(auto_losses, rel=1e-5)
    for name, tensor in hand.items():
        if name.startswith(("net.", "ema.module.")):
            assert torch.allclose(tensor, auto[name], rtol=1e-5, atol=1e-6), name


def test_steps_per_call_divides_what_counts_in_steps(synthetic_root):
    """The run's steps per call: the largest number up to the setting that divides the epoch (20 steps here),
    the validation and logging intervals and max_steps; a resume keeps its checkpoint's; 1 for DDP."""
    from mnist_lightning.training.stacking import steps_per_call

    data = MNISTDataModule(root=str(synthetic_root), download=False, val_size=200, batch_size=50)

    def chosen(*overrides, checkpoint=None):
        cfg = compose_train(small_run_overrides(synthetic_root, steps=60) + list(overrides))
        return steps_per_call(cfg, data.train_batches_per_epoch(), checkpoint)

    assert chosen() == 10
    assert chosen("trainer.max_steps=55") == 5
    assert chosen("steps_per_call=8") == 2
    assert chosen("trainer.log_every_n_steps=7") == 1
    assert chosen("trainer=ddp_cpu") == 1
    assert chosen("+trainer.overfit_batches=3") == 1
    assert chosen(checkpoint={"MNISTDataModule": {"steps_per_call": 10}}) == 10
    assert chosen(checkpoint={"MNISTDataModule": {"batches_per_call": 5}}) == 5  # the key's old name
    assert chosen(checkpoint={}) == 1  # written before steps_per_call: one step per call
    with pytest.raises(ConfigError, match="multiples of 4"):
        chosen("trainer.val_check_interval=30", checkpoint={"MNISTDataModule": {"steps_per_call": 4}})
