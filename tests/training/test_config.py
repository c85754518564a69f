"""Every config group option composes, and invalid values fail before training, naming the key."""

import pytest
from hydra.utils import instantiate

from mnist_lightning.errors import ConfigError
from mnist_lightning.training.config_checks import validate_train_config
from tests.helpers import compose_train

GROUP_OPTIONS = {
    "data": ["mnist", "fashion_mnist"],
    "model": ["mlp"],
    "optimizer": ["sgd", "momentum", "adam"],
    "lr_schedule": ["exp", "constant"],
    "reg": ["l2", "none"],
    "ema": ["on", "off"],
    "trainer": ["default", "cpu", "gpu"],
    "logger": ["csv", "none"],
    "callbacks": ["default"],
}


@pytest.mark.parametrize("group, option", [(g, o) for g, opts in GROUP_OPTIONS.items() for o in opts])
def test_every_group_option_composes_and_validates(group, option):
    cfg = compose_train([f"{group}={option}"])
    validate_train_config(cfg)
    module = instantiate(cfg.module, _convert_="all")
    assert all(isinstance(v, (int, float, str, bool, list, dict, type(None))) for v in module.hparams.values())


def test_defaults_are_the_tutorial():
    cfg = compose_train([])
    assert cfg.lr == 0.8 and cfg.reg.rate == 1e-4 and cfg.ema.decay == 0.99
    assert cfg.model.hidden == [500] and cfg.model.activation == "relu"
    assert cfg.lr_schedule.decay_rate == 0.99 and cfg.lr_schedule.decay_steps == 550
    assert cfg.data.batch_size == 100 and cfg.data.val_size == 5000 and cfg.data.split == "first"
    assert cfg.trainer.max_steps == 30000 and cfg.trainer.val_check_interval == 1000
    assert cfg.optimizer.name == "sgd"


def test_ema_on_off_are_strings_not_yaml_booleans():
    assert compose_train(["ema=off"]).ema.decay is None
    assert compose_train(["ema=on"]).ema.decay == 0.99


@pytest.mark.parametrize(
    "override, key",
    [
        ("lr=0", "lr"),
        ("lr=-1", "lr"),
        ("lr_schedule.decay_rate=1.5", "lr_schedule.decay_rate"),
        ("lr_schedule.decay_rate=0", "lr_schedule.decay_rate"),
        ("lr_schedule.decay_steps=0", "lr_schedule.decay_steps"),
        ("ema.decay=1.5", "ema.decay"),
        ("reg.rate=-0.1", "reg.rate"),
        ("model.hidden=[0]", "model.hidden"),
        ("model.hidden=[-5]", "model.hidden"),
        ("model.activation=swish", "model.activation"),
        ("data.batch_size=-1", "data.batch_size"),
        ("data.batch_size=0", "data.batch_size"),
        ("trainer.max_steps=0", "trainer.max_steps"),
        ("optimizer.name=lbfgs", "optimizer.name"),
        ("seed=abc", "seed"),
    ],
)
def test_invalid_values_name_the_key(override, key):
    with pytest.raises(ConfigError, match=rf"invalid config value {key}="):
        validate_train_config(compose_train([override]))
