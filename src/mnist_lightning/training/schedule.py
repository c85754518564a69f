"""Learning-rate schedules as picklable step -> factor callables for `LambdaLR`, by config name."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch.optim.lr_scheduler import LambdaLR

from mnist_lightning.errors import invalid_choice


class ExponentialDecay:
    """`tf.train.exponential_decay`: factor = decay_rate ** (step / decay_steps), per optimizer step."""

    def __init__(self, decay_rate: float = 0.99, decay_steps: int = 550, staircase: bool = False) -> None:
        self.decay_rate, self.decay_steps, self.staircase = decay_rate, decay_steps, staircase

    def __call__(self, step: int) -> float:
        exponent = step / self.decay_steps
        return self.decay_rate ** (math.floor(exponent) if self.staircase else exponent)


class Constant:
    def __call__(self, step: int) -> float:
        return 1.0


# The `lr_schedule` config group's names (conf/lr_schedule/<name>.yaml).
SCHEDULES = {"exp": ExponentialDecay, "constant": Constant}


def build_lr_scheduler(optimizer: torch.optim.Optimizer, name: str, **kwargs: Any) -> LambdaLR:
    """LambdaLR for the `lr_schedule` config group."""
    if name not in SCHEDULES:
        raise invalid_choice("lr_schedule.name", name, SCHEDULES)
    return LambdaLR(optimizer, SCHEDULES[name](**kwargs))
