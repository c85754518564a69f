"""The moving average of the weights, with `tf.train.ExponentialMovingAverage`'s rule.

TF1: shadow = decay * shadow + (1 - decay) * variable, with
decay = min(decay, (1 + num_updates) / (10 + num_updates)) and num_updates = global_step,
shadows starting at the variables' initial values. The shadow copy lives in a
`torch.optim.swa_utils.AveragedModel`; we update it with one fused `_foreach_lerp_`
instead of `AveragedModel.update_parameters`, which would read `n_averaged` back to
the host (a device sync on GPU) and regroup tensors on every step.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel


def tf_ema_decay(decay: float, num_updates: int) -> float:
    """TF1's effective decay after `num_updates` steps: small early, so the average warms up fast."""
    return min(decay, (1.0 + num_updates) / (10.0 + num_updates))


def create_moving_average(model: nn.Module) -> AveragedModel:
    """Shadow copy initialised to the model's current (initial) weights, like TF's shadows."""
    average = AveragedModel(model, use_buffers=True)
    average.n_averaged.fill_(1)  # the initial weights count as the first sample: no copy on update
    average.requires_grad_(False)
    return average


@torch.no_grad()
def update_moving_average(average: AveragedModel, model: nn.Module, decay: float) -> None:
    """shadow <- decay * shadow + (1 - decay) * weights, for every parameter and buffer."""
    shadow = [*average.module.parameters(), *average.module.buffers()]
    current = [*model.parameters(), *model.buffers()]
    torch._foreach_lerp_(shadow, current, 1.0 - decay)
    average.n_averaged += 1
