"""Models: pure torch, no Lightning, no Hydra."""

from mnist_lightning.models.mlp import ACTIVATIONS, MLP

__all__ = ["ACTIVATIONS", "MLP"]
