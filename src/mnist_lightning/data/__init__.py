"""Data: IDX reading, dataset sources, the validation split, the in-memory batcher and the DataModule.

`MNISTDataModule` is imported on first use, so the config checks can read the split's vocabulary
(`split.VAL_IMAGES`) before Lightning is imported.
"""

from typing import Any

from mnist_lightning.data.batcher import TensorBatcher
from mnist_lightning.data.idx import read_idx
from mnist_lightning.data.sources import DATASETS, DatasetSpec, load_dataset

__all__ = ["DATASETS", "DatasetSpec", "MNISTDataModule", "TensorBatcher", "load_dataset", "read_idx"]


def __getattr__(name: str) -> Any:
    if name == "MNISTDataModule":
        from mnist_lightning.data.datamodule import MNISTDataModule

        return MNISTDataModule
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
