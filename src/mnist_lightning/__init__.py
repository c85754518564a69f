"""The TensorFlow-1 MNIST tutorial (784-500-10 MLP, SGD, LR decay, L2, EMA) on Lightning + Hydra."""

from mnist_lightning.errors import ConfigError, DataError, UserError

__all__ = ["ConfigError", "DataError", "UserError"]
