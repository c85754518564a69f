"""L2 regularization with TensorFlow's semantics."""

from __future__ import annotations

from collections.abc import Iterable

import torch


def l2_penalty(weights: Iterable[torch.Tensor], rate: float) -> torch.Tensor:
    """`rate * sum(tf.nn.l2_loss(w))` = rate * sum(w ** 2) / 2, over weight matrices only."""
    weights = list(weights)
    return rate * 0.5 * torch.stack([w.square().sum() for w in weights]).sum()
