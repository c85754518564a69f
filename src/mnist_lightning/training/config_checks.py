"""Checks a composed training config before anything runs, naming the offending key: the schema's
per-key rules, and the checks across keys and the run's circumstances that a schema cannot state."""

from __future__ import annotations

from omegaconf import DictConfig

from mnist_lightning.errors import ConfigError
from mnist_lightning.hydra_setup import in_multirun
from mnist_lightning.schema import check_config


def validate_train_config(cfg: DictConfig) -> None:
    """Raise a ConfigError for values that would crash or silently mislead training: the schema's types
    and ranges (schema.py), then what no single key says."""
    check_config("train", cfg)
    refuse_relaunching_strategy_in_multirun(cfg)


def refuse_relaunching_strategy_in_multirun(cfg: DictConfig) -> None:
    """strategy=ddp re-launches the command line per process; under -m each child would re-run the sweep."""
    strategy = str(cfg.trainer.get("strategy", "auto"))
    if strategy.startswith("ddp") and "spawn" not in strategy and in_multirun():
        raise ConfigError(
            f"trainer.strategy={strategy} cannot run inside a Hydra multirun (-m): Lightning re-launches the "
            "command line for each process, so every child would re-run the whole sweep. Run DDP jobs one at a "
            "time, or sweep with hydra/launcher=submitit_slurm (one job per DDP run)."
        )
