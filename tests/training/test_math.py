"""The tutorial's arithmetic: L2 with TF semantics, the LR decay, the EMA rule."""

import math

import lightning as L
import pytest
import torch
import torch.nn.functional as F

from mnist_lightning.data import MNISTDataModule
from mnist_lightning.errors import ConfigError
from mnist_lightning.models import MLP
from mnist_lightning.training import MNISTClassifier
from mnist_lightning.training.ema import ExponentialMovingAverage, tf_ema_decay
from mnist_lightning.training.schedule import ExponentialDecay, build_lr_scheduler
from mnist_lightning.training.step import l2_penalty


def test_l2_penalty_is_tf_l2_loss_over_weights_only():
    net = MLP(hidden=[3], in_features=2, num_classes=2)
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(2.0)
    # weights: 3x2 + 2x3 = 12 entries of 2.0 -> sum(w^2)/2 = 24; biases (5 entries) excluded
    assert l2_penalty(net.weight_matrices(), 0.5).item() == pytest.approx(0.5 * 24)


def test_weight_decay_step_equals_gradient_of_tf_l2_loss():
    """The module's optimizer (decay on weights only) takes the step autograd would on CE + L2."""
    torch.manual_seed(0)
    module = MNISTClassifier(net={"hidden": [16]}, lr=0.5, l2_rate=0.01, ema_decay=None)
    reference = MLP(hidden=[16])
    reference.load_state_dict(module.net.state_dict())
    x, y = torch.rand(8, 784), torch.randint(0, 10, (8,))

    optimizer = module.configure_optimizers()["optimizer"]
    F.cross_entropy(module.net(x), y).backward()
    optimizer.step()

    loss = F.cross_entropy(reference(x), y) + l2_penalty(reference.weight_matrices(), 0.01)
    loss.backward()
    with torch.no_grad():
        for p in reference.parameters():
            p -= 0.5 * p.grad
    for (name, a), b in zip(module.net.named_parameters(), reference.parameters()):
        assert torch.allclose(a, b, atol=1e-6), name


def test_exponential_decay_values():
    decay = ExponentialDecay(0.99, 550)
    assert decay(0) == 1.0
    assert decay(550) == pytest.approx(0.99)
    assert decay(275) == pytest.approx(0.99**0.5)
    assert decay(30000) == pytest.approx(0.99 ** (30000 / 550))
    staircase = ExponentialDecay(0.99, 550, staircase=True)
    assert staircase(549) == 1.0 and staircase(1100) == pytest.approx(0.99**2)


def test_scheduler_sets_optimizer_lr_per_step():
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.8)
    scheduler = build_lr_scheduler(optimizer, "exp", decay_rate=0.5, decay_steps=2)
    for _ in range(4):
        optimizer.step()
        scheduler.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.8 * 0.5**2)
    with pytest.raises(ConfigError, match="invalid config value lr_schedule.name='cosine'"):
        build_lr_scheduler(optimizer, "cosine")


def test_tf_ema_decay_rule():
    assert tf_ema_decay(0.99, 0) == pytest.approx(0.1)
    assert tf_ema_decay(0.99, 1) == pytest.approx(2 / 11)
    assert tf_ema_decay(0.99, 890) == pytest.approx(891 / 900)
    assert tf_ema_decay(0.99, 100000) == 0.99


def test_ema_update_by_hand():
    net = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        net.weight.fill_(1.0)
    average = ExponentialMovingAverage(net, decay=0.99)
    shadow = 1.0
    for step, value in enumerate([3.0, 5.0, -1.0]):
        with torch.no_grad():
            net.weight.fill_(value)
        decay = average.get_decay(step)
        assert decay == tf_ema_decay(0.99, step)
        average.update(net, step)
        shadow = decay * shadow + (1 - decay) * value
        assert average.module.weight.item() == pytest.approx(shadow)
    # by hand: 0.1*1+0.9*3 = 2.8; (2/11)*2.8+(9/11)*5 = 4.5454..; 0.25*4.5454-0.75 = 0.38636..
    assert shadow == pytest.approx(0.25 * (2 / 11 * 2.8 + 9 / 11 * 5) - 0.75)
    assert int(average.n_averaged) == 4
    assert list(average.state_dict()) == ["n_averaged", "module.weight"]  # the checkpoint keys under `ema.`


def test_ema_set_and_restart_from():
    net = torch.nn.Linear(2, 1)
    average = ExponentialMovingAverage(net, decay=0.5)
    with torch.no_grad():
        net.weight.fill_(4.0)
    average.update(net, step=100)  # decay 0.5: halfway from the initial weights to 4
    expected = average.module.weight.clone()
    target = torch.nn.Linear(2, 1)
    average.set(target)
    assert torch.equal(target.weight, expected) and torch.equal(target.bias, average.module.bias)
    average.restart_from(net)
    assert torch.equal(average.module.weight, net.weight)


class RecordWeights(L.Callback):
    def __init__(self):
        self.after_step = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        # callbacks run before the module's hook, i.e. before this step's EMA update
        self.after_step.append({k: v.clone() for k, v in pl_module.net.state_dict().items()})


def _trainer(steps, callbacks=()):
    return L.Trainer(
        max_steps=steps,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        log_every_n_steps=1,
        callbacks=list(callbacks),
    )


def test_module_ema_follows_tf_rule_during_fit(synthetic_root):
    torch.manual_seed(0)
    module = MNISTClassifier(net={"hidden": [8]}, lr=0.3)
    initial = {k: v.clone() for k, v in module.net.state_dict().items()}
    recorder = RecordWeights()
    dm = MNISTDataModule(root=str(synthetic_root), download=False, val_size=200, batch_size=50)
    _trainer(5, [recorder]).fit(module, datamodule=dm)
    for name, value in initial.items():
        shadow = value
        for step, weights in enumerate(recorder.after_step):
            decay = tf_ema_decay(0.99, step)
            shadow = decay * shadow + (1 - decay) * weights[name]
        assert torch.allclose(module.ema.module.state_dict()[name], shadow, atol=1e-6), name
        assert not torch.allclose(shadow, module.net.state_dict()[name])


def test_validation_reports_ema_and_raw_and_forward_uses_ema(synthetic_root):
    torch.manual_seed(0)
    module = MNISTClassifier(net={"hidden": [8]}, lr=0.3)
    dm = MNISTDataModule(root=str(synthetic_root), download=False, val_size=200, batch_size=50)
    _trainer(30).fit(module, datamodule=dm)
    evaluator = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False)
    result = evaluator.validate(module, datamodule=dm, verbose=False)[0]
    images, labels = dm.val_set
    with torch.no_grad():
        ema_acc = (module.ema.module(images).argmax(1) == labels).float().mean().item()
        raw_acc = (module.net(images).argmax(1) == labels).float().mean().item()
        assert torch.equal(module(images), module.ema.module(images))
        ema_loss = F.cross_entropy(module.ema.module(images), labels).item()
        raw_loss = F.cross_entropy(module.net(images), labels).item()
    assert result["val/acc_ema"] == pytest.approx(ema_acc)
    assert result["val/acc_raw"] == pytest.approx(raw_acc)
    assert not math.isclose(ema_loss, raw_loss, rel_tol=1e-3)  # the two weight sets really differ
    assert result["val/loss"] == pytest.approx(ema_loss, rel=1e-5)  # the reported loss is the EMA's
