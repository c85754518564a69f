"""The DataModule: TF1 `read_data_sets` split (validation = first 5,000 training images)."""

from __future__ import annotations

import lightning as L
import torch

from mnist_lightning.data.batcher import TensorBatcher, batches_per_epoch
from mnist_lightning.data.sources import load_dataset, locate_dataset
from mnist_lightning.data.split import validation_split
from mnist_lightning.errors import ConfigError


def to_features(images: torch.Tensor) -> torch.Tensor:
    """uint8 N×28×28 -> float32 N×784 in [0, 1], the tutorial's input."""
    return images.reshape(len(images), -1).to(torch.float32).div_(255.0)


class MNISTDataModule(L.LightningDataModule):
    """MNIST-format data held in memory as tensors, split 55k/5k/10k.

    `val_images="first"` takes the first `val_size` training images as validation, like
    TensorFlow's `read_data_sets`; `val_images="random"` draws them with `val_seed`.
    Training batches come `steps_per_call` at a time, stacked (training/stacking.py sets it).
    """

    def __init__(
        self,
        name: str = "mnist",
        root: str | None = "data",
        download: bool = True,
        batch_size: int = 100,
        eval_batch_size: int = 1000,
        val_size: int = 5000,
        val_images: str = "first",
        val_seed: int = 0,
        shuffle_seed: int = 0,
        track_test: bool = False,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.train_set: tuple[torch.Tensor, torch.Tensor] | None = None
        self.val_set: tuple[torch.Tensor, torch.Tensor] | None = None
        self.test_set: tuple[torch.Tensor, torch.Tensor] | None = None
        self.steps_per_call = 1  # training batches per item: the steps of one training_step call
        self._train_batcher: TensorBatcher | None = None
        self._on_device: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def prepare_data(self) -> None:
        # Download (if needed) once per node before setup() reads the files on every rank.
        if self.train_set is None:
            locate_dataset(self.hparams.name, self.hparams.root, self.hparams.download)

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        hp = self.hparams
        data = load_dataset(hp.name, hp.root, download_if_missing=hp.download)
        train_images, train_labels = data["train"]
        val_idx, train_idx = validation_split(len(train_images), hp.val_size, hp.val_images, hp.val_seed)
        features = to_features(train_images)
        self.val_set = (features[val_idx], train_labels[val_idx])
        self.train_set = (features[train_idx], train_labels[train_idx])
        self.test_set = (to_features(data["test"][0]), data["test"][1])
        if hp.batch_size > len(train_idx):
            raise ConfigError(
                f"data.batch_size={hp.batch_size} is larger than the training set ({len(train_idx)} images)"
            )

    def _resident(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """A split's tensors; on a GPU moved there once (172 MB for MNIST's training images), so a
        batch is an on-device gather with no host-to-device copy or sync per step."""
        tensors = getattr(self, f"{split}_set")
        trainer = self.trainer
        if trainer is None or trainer.strategy.root_device.type != "cuda":
            return tensors
        if split not in self._on_device:
            self._on_device[split] = tuple(t.to(trainer.strategy.root_device) for t in tensors)
        return self._on_device[split]

    def _rank_and_world(self) -> tuple[int, int]:
        trainer = self.trainer
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def train_dataloader(self) -> TensorBatcher:
        rank, world = self._rank_and_world()
        self._train_batcher = TensorBatcher(
            *self._resident("train"),
            batch_size=self.hparams.batch_size,
            shuffle=True,
            seed=self.hparams.shuffle_seed,
            drop_last=True,
            rank=rank,
            world_size=world,
            stack=self.steps_per_call,
        )
        return self._train_batcher

    def train_batches_per_epoch(self) -> int:
        """Training batches (steps) in one epoch of this process's share of the data."""
        self.setup("fit")
        rank, world = self._rank_and_world()
        return batches_per_epoch(len(self.train_set[1]), self.hparams.batch_size, True, rank, world)

    def state_dict(self) -> dict[str, int]:
        """Saved in checkpoints: a resumed run must group its steps the same way (Lightning counts calls)."""
        return {"steps_per_call": self.steps_per_call}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.steps_per_call = state.get(
            "steps_per_call", state.get("batches_per_call", 1)
        )  # named so until 0.2.0

    def _eval_batcher(self, split: str) -> TensorBatcher:
        rank, world = self._rank_and_world()
        return TensorBatcher(
            *self._resident(split), batch_size=self.hparams.eval_batch_size, rank=rank, world_size=world
        )

    def val_dataloader(self) -> TensorBatcher | list[TensorBatcher]:
        # track_test: the test split rides along at every validation, for the val/test
        # correlation study only; it is logged apart and never drives checkpoints.
        if self.hparams.track_test:
            return [self._eval_batcher("val"), self._eval_batcher("test")]
        return self._eval_batcher("val")

    def test_dataloader(self) -> TensorBatcher:
        return self._eval_batcher("test")
