"""Checks a composed training config before anything runs, naming the offending key."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig, OmegaConf

from mnist_lightning.data.split import VAL_IMAGES
from mnist_lightning.errors import ConfigError, invalid_value
from mnist_lightning.hydra_setup import in_multirun
from mnist_lightning.models import ACTIVATIONS
from mnist_lightning.models.mlp_gradients import COMPUTE_DTYPES
from mnist_lightning.training.optimizers import OPTIMIZERS
from mnist_lightning.training.schedule import SCHEDULES


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check(cfg: DictConfig, key: str, ok: Callable[[Any], bool], expected: str) -> None:
    value = OmegaConf.select(cfg, key)
    if not ok(value):
        raise invalid_value(key, value, expected)


def validate_train_config(cfg: DictConfig) -> None:
    """Raise a ConfigError for values that would crash or silently mislead training."""
    checks: list[tuple[str, Callable[[Any], bool], str]] = [
        ("lr", lambda v: _is_number(v) and v > 0, "a number > 0"),
        ("seed", _is_int, "an integer"),
        ("reg.rate", lambda v: _is_number(v) and v >= 0, "a number >= 0"),
        (
            "ema.decay",
            lambda v: v is None or (_is_number(v) and 0 < v < 1),
            "null (off) or a number in (0, 1)",
        ),
        ("optimizer.name", lambda v: v in OPTIMIZERS, f"one of {sorted(OPTIMIZERS)}"),
        ("lr_schedule.name", lambda v: v in SCHEDULES, f"one of {sorted(SCHEDULES)}"),
        (
            "precision.name",
            lambda v: v in COMPUTE_DTYPES,
            f"one of {sorted(COMPUTE_DTYPES)} (precision=fp32|bf16)",
        ),
        ("model.activation", lambda v: v in ACTIVATIONS, f"one of {sorted(ACTIVATIONS)}"),
        (
            "model.hidden",
            lambda v: v is not None and all(_is_int(h) and h > 0 for h in v),
            "a list of positive integers",
        ),
        ("model.init_std", lambda v: _is_number(v) and v > 0, "a number > 0"),
        ("data.batch_size", lambda v: _is_int(v) and v > 0, "an integer > 0"),
        ("data.eval_batch_size", lambda v: _is_int(v) and v > 0, "an integer > 0"),
        ("data.val_size", lambda v: _is_int(v) and v > 0, "an integer > 0"),
        ("data.val_images", lambda v: v in VAL_IMAGES, " or ".join(repr(v) for v in VAL_IMAGES)),
        ("trainer.max_steps", lambda v: _is_int(v) and v > 0, "an integer > 0"),
        ("trainer.val_check_interval", lambda v: _is_int(v) and v > 0, "an integer number of steps > 0"),
        ("trainer.log_every_n_steps", lambda v: _is_int(v) and v > 0, "an integer > 0"),
        ("steps_per_call", lambda v: _is_int(v) and v > 0, "an integer > 0"),
        ("module.hand_written_gradients", lambda v: isinstance(v, bool), "true or false"),
        ("module.cuda_graph", lambda v: isinstance(v, bool), "true or false"),
        (
            "trainer.precision",
            lambda v: v is None,
            "unset: the project's precision=fp32|bf16 chooses the training GEMMs' dtype",
        ),
    ]
    if cfg.lr_schedule.name == "exp":
        checks += [
            ("lr_schedule.decay_rate", lambda v: _is_number(v) and 0 < v <= 1, "a number in (0, 1]"),
            ("lr_schedule.decay_steps", lambda v: _is_number(v) and v > 0, "a number > 0"),
        ]
    for key, ok, expected in checks:
        _check(cfg, key, ok, expected)
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
