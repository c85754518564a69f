"""The moving average of the weights, with `tf.train.ExponentialMovingAverage`'s rule, in one object.

TF1: shadow = decay * shadow + (1 - decay) * variable, with
decay = min(decay, (1 + num_updates) / (10 + num_updates)) and num_updates = global_step,
shadows starting at the variables' initial values. Shaped like timm's `ModelEmaV3`
(`get_decay(step)`, `update(model, step)`, `set(model)`) on top of
`torch.optim.swa_utils.AveragedModel`, so checkpoints keep the `ema.module.*` keys and
`n_averaged` counts the updates. Not through `update_parameters`/`multi_avg_fn`: the decay needs
the step number, which they would read from `n_averaged` on the host (a device sync every step on
a GPU), and they regroup the tensors on every call; here one fused `_foreach_lerp_` does it.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel


def tf_ema_decay(decay: float, num_updates: int) -> float:
    """TF1's effective decay after `num_updates` steps: small early, so the average warms up fast."""
    return min(decay, (1.0 + num_updates) / (10.0 + num_updates))


class ExponentialMovingAverage(AveragedModel):
    """Shadow copy of a model, initialised to its current (initial) weights like TF's shadows."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        super().__init__(model, use_buffers=True)
        self.decay = decay
        self.n_averaged.fill_(1)  # the initial weights count as the first sample: no copy on update
        self.requires_grad_(False)
        self._paired: tuple[nn.Module, list[torch.Tensor], list[torch.Tensor]] | None = None

    def get_decay(self, step: int) -> float:
        return tf_ema_decay(self.decay, step)

    def _pairs(self, model: nn.Module) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """(the average's tensors, `model`'s), listed once per model: collecting them costs more than the update."""
        if self._paired is None or self._paired[0] is not model:
            shadow = [*self.module.parameters(), *self.module.buffers()]
            self._paired = (model, shadow, [*model.parameters(), *model.buffers()])
        return self._paired[1], self._paired[2]

    def _apply(self, fn, *args, **kwargs):
        self._paired = None  # moving to another device or dtype may replace buffers
        return super()._apply(fn, *args, **kwargs)

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        """shadow <- d * shadow + (1 - d) * weights, d = get_decay(step), for parameters and buffers."""
        shadow, current = self._pairs(model)
        torch._foreach_lerp_(shadow, current, 1.0 - self.get_decay(step))
        self.n_averaged += 1

    @torch.no_grad()
    def set(self, model: nn.Module) -> None:
        """Copy the average into `model` (evaluate or export a live model with its EMA weights)."""
        shadow, current = self._pairs(model)
        torch._foreach_copy_(current, shadow)

    @torch.no_grad()
    def restart_from(self, model: nn.Module) -> None:
        """Make `model`'s current weights the average's starting point (after a warm start)."""
        shadow, current = self._pairs(model)
        torch._foreach_copy_(shadow, current)
