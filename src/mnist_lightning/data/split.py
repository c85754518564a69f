"""Which training images become the validation set."""

from __future__ import annotations

import torch

from mnist_lightning.errors import ConfigError, invalid_value
from mnist_lightning.schema import (
    VAL_IMAGES,
)  # the first `val_size` images (TF1's read_data_sets), or a seeded draw


def validation_split(
    n: int, val_size: int, val_images: str, val_seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(validation indices, training indices) of `n` training images. `val_size`'s type and sign are
    checked with the config (schema.py); its bound, which needs `n`, here."""
    if val_size >= n:
        raise ConfigError(f"data.val_size={val_size} must be smaller than the {n} training images")
    if val_images == "first":
        order = torch.arange(n)
    elif val_images == "random":
        order = torch.randperm(n, generator=torch.Generator().manual_seed(val_seed))
    else:  # programs check this with their config; this is for direct use
        raise invalid_value("data.val_images", val_images, " or ".join(repr(v) for v in VAL_IMAGES))
    return order[:val_size], order[val_size:]
