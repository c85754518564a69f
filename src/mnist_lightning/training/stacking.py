"""Several tutorial steps per Lightning `training_step` call ("steps per call"): the one place that
knows how the config's steps map to Lightning's calls.

Lightning's per-call cost (data fetch, hooks, callbacks, logger connector) is shared by `k` steps:
the DataModule hands over `k` consecutive batches stacked (`data/batcher.py`'s `stack`), the module
runs one tutorial step for each, and Lightning, which counts calls, is given the config's
intervals divided by `k`. The steps, and every result, are the same for any `k` (tests/training/test_step.py).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from omegaconf import DictConfig

from mnist_lightning.errors import ConfigError

DATAMODULE_STATE = "MNISTDataModule"  # the DataModule's entry in a checkpoint, which saves `k`


def saved_steps_per_call(checkpoint: dict[str, Any]) -> int:
    """The steps per call a checkpoint's run took (1 for checkpoints written before there was a choice)."""
    state = checkpoint.get(DATAMODULE_STATE, {})
    return state.get("steps_per_call", state.get("batches_per_call", 1))  # the key's name until 0.2.0


def steps_per_call(cfg: DictConfig, steps_per_epoch: int, checkpoint: dict[str, Any] | None = None) -> int:
    """Tutorial steps per `training_step` call, up to `cfg.steps_per_call`: a resumed run keeps its
    checkpoint's (Lightning counts calls); else the largest number dividing the setting, the steps of an
    epoch, the validation and logging intervals and `max_steps`, so all of them fall on the same steps;
    1 with several processes or `overfit_batches` (both count batches per call)."""
    trainer = cfg.trainer
    if checkpoint is not None:
        steps = saved_steps_per_call(checkpoint)
        if trainer.val_check_interval % steps or trainer.log_every_n_steps % steps:
            raise ConfigError(
                f"ckpt_path: this run took {steps} steps per call, so it resumes with trainer.val_check_interval "
                f"and trainer.log_every_n_steps that are multiples of {steps} (now {trainer.val_check_interval} "
                f"and {trainer.log_every_n_steps})"
            )
        return steps
    if str(trainer.get("strategy", "auto")).startswith("ddp") or trainer.get("devices", 1) != 1:
        return 1
    if trainer.get("overfit_batches"):
        return 1
    intervals = (trainer.val_check_interval, trainer.log_every_n_steps, trainer.max_steps, steps_per_epoch)
    return math.gcd(cfg.steps_per_call, *intervals)


def lightning_intervals(cfg: DictConfig, steps: int) -> dict[str, int]:
    """The trainer's intervals in calls of `steps` steps (the config gives them in steps)."""
    return {
        "val_check_interval": cfg.trainer.val_check_interval // steps,
        "log_every_n_steps": cfg.trainer.log_every_n_steps // steps,
    }


def steps_in(call: tuple[torch.Tensor, torch.Tensor]) -> int:
    """The steps one call's stacked batch holds (the last of an epoch may hold fewer)."""
    return len(call[0])


def first_step(call: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """The images and labels of a call's first step, copied (not a view keeping the whole stack)."""
    return call[0][0].clone(), call[1][0].clone()
