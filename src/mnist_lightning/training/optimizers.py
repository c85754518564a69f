"""Optimizers by config name, so hyper-parameters stay plain types in checkpoints."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from mnist_lightning.errors import invalid_choice

# The `optimizer` config group's names (conf/optimizer/*.yaml set `name`). Only optimizers whose
# `weight_decay` is coupled L2 (added to the gradient), which is how the module applies the
# tutorial's regularization; AdamW's decoupled decay is not that.
OPTIMIZERS = {
    "sgd": torch.optim.SGD,
    "momentum": torch.optim.SGD,  # with momentum (and Nesterov) set by conf/optimizer/momentum.yaml
    "adam": torch.optim.Adam,
    "rmsprop": torch.optim.RMSprop,
}


# Those with a fused kernel (CPU and CUDA): weight decay, momentum and the update in one pass over
# each tensor, instead of ~4 elementwise ops a parameter (the L2 term alone allocated a copy).
FUSED = {"sgd", "momentum", "adam"}


def build_optimizer(params: Iterable[Any], name: str, lr: float, **kwargs: Any) -> torch.optim.Optimizer:
    """The named optimizer; fused where it has a fused kernel, unless the config sets `fused`/`foreach`."""
    if name not in OPTIMIZERS:
        raise invalid_choice("optimizer.name", name, OPTIMIZERS)
    if name in FUSED and kwargs.get("fused") is None and kwargs.get("foreach") is None:
        kwargs["fused"] = True
    return OPTIMIZERS[name](params, lr=lr, **kwargs)
