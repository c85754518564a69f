"""Every config group option composes, and invalid values fail before training, naming the key."""

from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from mnist_lightning.errors import ConfigError
from mnist_lightning.hydra_setup import CONFIG_DIR
from mnist_lightning.training.config_checks import validate_train_config
from tests.helpers import compose_config, compose_train

CONF = Path(CONFIG_DIR)
PROGRAMS = sorted(p.stem for p in CONF.glob("*.yaml"))
# Every option of every group, found on disk: a new yaml file is tested without editing this file.
GROUP_OPTIONS = sorted((p.parent.name, p.stem) for p in CONF.glob("*/*.yaml") if p.parent.name != "hydra")


@pytest.mark.parametrize("group, option", GROUP_OPTIONS, ids=[f"{g}={o}" for g, o in GROUP_OPTIONS])
def test_every_group_option_composes_and_validates(group, option):
    cfg = compose_train([f"{group}={option}"])
    validate_train_config(cfg)
    module = instantiate(cfg.module, _convert_="all")
    assert all(
        isinstance(v, (int, float, str, bool, list, dict, type(None))) for v in module.hparams.values()
    )


@pytest.mark.parametrize("program", PROGRAMS)
def test_every_program_config_composes(program):
    cfg = compose_config(program, [])
    assert OmegaConf.to_container(cfg) is not None


def test_the_study_covers_exactly_the_variant_files():
    study = OmegaConf.load(CONF / "experiment" / "comparison.yaml")
    sweep = study.hydra.sweeper.params.variant.split(",")
    read = dict(study.report.raw_weights_of)  # {no_ema: all}: reported from all's raw weights
    assert sorted(sweep + list(read)) == sorted(p.stem for p in (CONF / "variant").glob("*.yaml"))
    assert set(read.values()) <= set(sweep) and not set(read) & set(sweep)
    assert sweep[0] == "all"  # the reference every difference is measured against


def test_defaults_are_the_tutorial():
    cfg = compose_train([])
    assert cfg.lr == 0.8 and cfg.reg.rate == 1e-4 and cfg.ema.decay == 0.99
    assert cfg.model.hidden == [500] and cfg.model.activation == "relu"
    assert cfg.lr_schedule.decay_rate == 0.99 and cfg.lr_schedule.decay_steps == 550
    assert cfg.data.batch_size == 100 and cfg.data.val_size == 5000 and cfg.data.val_images == "first"
    assert cfg.trainer.max_steps == 30000 and cfg.trainer.val_check_interval == 1000
    assert cfg.optimizer.name == "sgd"


def test_momentum_runs_are_labelled_momentum_and_train_with_nesterov_momentum():
    cfg = compose_train(["optimizer=momentum", "lr=0.05"])
    assert cfg.optimizer.name == "momentum"
    from mnist_lightning.training.optimizers import build_optimizer

    optimizer = build_optimizer([torch.nn.Parameter(torch.zeros(2))], lr=cfg.lr, **cfg.optimizer)
    assert isinstance(optimizer, torch.optim.SGD)
    assert (
        optimizer.defaults["momentum"] == 0.9
        and optimizer.defaults["nesterov"]
        and optimizer.defaults["fused"]
    )


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


LOCAL_REQUIRED = {
    "train": [],
    "evaluate": ["ckpt=x"],
    "export": ["ckpt=x"],
    "predict": ["ckpt=x", "inputs=x"],
    "serve": ["ckpt=x"],
}


@pytest.mark.parametrize("program", sorted(LOCAL_REQUIRED))
def test_a_local_file_sets_data_root_once_for_every_program(program, tmp_path):
    (tmp_path / "local").mkdir()
    (tmp_path / "local" / "default.yaml").write_text((CONF / "local" / "example.yaml").read_text())
    searchpath = f"hydra.searchpath=[file://{tmp_path}]"  # where conf/local/default.yaml would be
    cfg = compose_config(program, [*LOCAL_REQUIRED[program], searchpath])
    assert cfg.data.root == "/data/mnist"
    assert (
        compose_config(program, [*LOCAL_REQUIRED[program], searchpath, "data.root=/elsewhere"]).data.root
        == "/elsewhere"
    )
    without = compose_config(program, LOCAL_REQUIRED[program])  # no local file: the program's own default
    assert without.data.root != "/data/mnist"
