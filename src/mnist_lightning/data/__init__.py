"""Data: IDX reading, dataset sources, the in-memory batcher and the DataModule."""

from mnist_lightning.data.batcher import TensorBatcher
from mnist_lightning.data.datamodule import MNISTDataModule
from mnist_lightning.data.idx import read_idx
from mnist_lightning.data.sources import DATASETS, DatasetSpec, load_dataset

__all__ = ["DATASETS", "DatasetSpec", "MNISTDataModule", "TensorBatcher", "load_dataset", "read_idx"]
