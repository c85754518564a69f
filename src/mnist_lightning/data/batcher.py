"""In-memory batching: a batch is an index slice of a per-epoch permutation of whole tensors.

MNIST fits in memory, so a DataLoader's per-sample fetch and collate would cost more than the
model's forward pass. Lightning drives this like a DataLoader: it calls `sampler.set_epoch`
at each epoch and saves/restores `state_dict` in checkpoints (mid-epoch resume).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch


class EpochPermutation:
    """Seeded order of `n` samples for each epoch, sharded across `world_size` ranks.

    The order depends only on (seed, epoch), so it is the same after a restart and
    every rank agrees on it without communicating.
    """

    def __init__(self, n: int, shuffle: bool, seed: int = 0, rank: int = 0, world_size: int = 1) -> None:
        self.n, self.shuffle, self.seed = n, shuffle, seed
        self.rank, self.world_size = rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def indices(self) -> torch.Tensor:
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            order = torch.randperm(self.n, generator=generator)
        else:
            order = torch.arange(self.n)
        return order[self.rank :: self.world_size]


class TensorBatcher:
    """Iterable of (images, labels) batches sliced from tensors already in memory."""

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        batch_size: int,
        shuffle: bool = False,
        seed: int = 0,
        drop_last: bool = False,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        self.images, self.labels = images, labels
        self.batch_size, self.drop_last = batch_size, drop_last
        self.sampler = EpochPermutation(len(images), shuffle, seed, rank, world_size)
        self.batch_sampler = None  # DataLoader-like attributes that Lightning inspects
        self._batches_done = 0  # in the current epoch; restored on resume
        self._skip = 0

    def __len__(self) -> int:
        n = len(range(self.sampler.rank, self.sampler.n, self.sampler.world_size))
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = self.sampler.indices().to(self.images.device)  # once an epoch: gathers stay on the device
        gather = self.sampler.shuffle or self.sampler.world_size > 1
        start, self._skip = self._skip, 0
        for i in range(start, len(self)):
            self._batches_done = i + 1
            rows = slice(i * self.batch_size, (i + 1) * self.batch_size)
            if gather:  # a 100-row gather per step beats copying the whole set each epoch
                index = order[rows]
                yield self.images.index_select(0, index), self.labels.index_select(0, index)
            else:
                yield self.images[rows], self.labels[rows]
        self._batches_done = 0

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.sampler.epoch, "batches_done": self._batches_done}

    def load_state_dict(self, state: dict[str, int]) -> None:
        epoch, done = state["epoch"], state["batches_done"]
        if done >= len(self):  # saved at the end of an epoch: resume at the start of the next one
            epoch, done = epoch + 1, 0
        self.sampler.set_epoch(epoch)
        self._skip = done
