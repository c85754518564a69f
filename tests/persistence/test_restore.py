"""EMA shadows as plain weights; partial and renamed warm starts."""

import pytest
import torch

from mnist_lightning.models import MLP
from mnist_lightning.persistence.checkpoints import load_checkpoint
from mnist_lightning.persistence.restore import RestoreError, mlp_from_checkpoint, restore_parameters
from tests.helpers import compose_train, small_run_overrides, train_small_run


def test_ema_and_raw_weights_as_a_plain_mlp(trained_run):
    checkpoint = load_checkpoint(trained_run / "checkpoints" / "last.ckpt")
    state = checkpoint["state_dict"]
    ema, raw = mlp_from_checkpoint(checkpoint, "ema"), mlp_from_checkpoint(checkpoint, "raw")
    assert type(ema) is MLP
    assert torch.equal(ema.layer1.weight, state["ema.module.layer1.weight"])
    assert torch.equal(raw.layer1.weight, state["net.layer1.weight"])
    assert not torch.equal(ema.layer1.weight, raw.layer1.weight)


def test_ema_requested_from_a_run_without_ema(synthetic_root, tmp_path):
    train_small_run(synthetic_root, tmp_path, "ema=off", "test=false", steps=20)
    with pytest.raises(RestoreError, match="trained with ema=off"):
        mlp_from_checkpoint(load_checkpoint(tmp_path / "checkpoints" / "last.ckpt"), "ema")


def test_renamed_partial_restore_reports_what_it_did():
    source = MLP(hidden=[50])
    target = MLP(hidden=[50, 20])
    report = restore_parameters(target, dict(source.named_parameters()), {"layer1": "layer1"})
    assert torch.equal(target.layer1.weight, source.layer1.weight)
    assert report.loaded == {"layer1.weight": "layer1.weight", "layer1.bias": "layer1.bias"}
    assert report.initialised == ["layer2.weight", "layer2.bias", "layer3.weight", "layer3.bias"]
    assert report.ignored == ["layer2.weight", "layer2.bias"]
    renamed = MLP(hidden=[50, 20])
    restore_parameters(
        renamed,
        {"hidden.w": source.layer1.weight, "hidden.b": source.layer1.bias},
        {"layer1.weight": "hidden.w", "layer1.bias": "hidden.b"},
    )
    assert torch.equal(renamed.layer1.bias, source.layer1.bias)


def test_restore_errors():
    source = dict(MLP(hidden=[50]).named_parameters())
    with pytest.raises(
        RestoreError,
        match="shape mismatch on restore: layer2.weight \\(20, 50\\) <- layer2.weight \\(10, 50\\)",
    ):
        restore_parameters(MLP(hidden=[50, 20]), source, {"layer2": "layer2"})
    with pytest.raises(RestoreError, match="names no parameter"):
        restore_parameters(MLP(hidden=[50]), source, {"layer9": "layer1"})
    with pytest.raises(RestoreError, match="source has no 'conv1.weight'"):
        restore_parameters(MLP(hidden=[50]), source, {"layer1": "conv1"})


def test_warm_start_from_the_command_config(trained_run, synthetic_root, tmp_path):
    """init_from/init_map: a 2-hidden-layer model's first layer starts as the 1-layer run's EMA layer1."""
    from mnist_lightning.training.run import build
    from mnist_lightning.training.warm_start import warm_start

    cfg = compose_train(
        small_run_overrides(synthetic_root, tmp_path, steps=20)
        + ["model.hidden=[500,64]", f"init_from={trained_run}", "init_map={layer1:layer1}"]
    )
    _, module, _ = build(cfg)
    report = warm_start(module, cfg.init_from, cfg.init_map, cfg.init_weights)
    source = load_checkpoint(trained_run / "checkpoints" / "step000060.ckpt")["state_dict"]
    assert torch.equal(module.net.layer1.weight, source["ema.module.layer1.weight"])
    assert torch.equal(module.ema.module.layer1.weight, source["ema.module.layer1.weight"])
    assert "layer2.weight" in report.initialised
    record = train_small_run(
        synthetic_root,
        tmp_path / "warm",
        "model.hidden=[500,64]",
        f"init_from={trained_run}",
        "init_map={layer1:layer1}",
        steps=20,
    )
    assert record["status"] == "completed"
