"""In-memory batching: a batch is an index slice of a per-epoch permutation of whole tensors.

MNIST fits in memory, so a DataLoader's per-sample fetch and collate would cost more than the
model's forward pass. Lightning drives this like a DataLoader: it calls `sampler.set_epoch`
at each epoch and saves/restores `state_dict` in checkpoints (mid-epoch resume).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch


def batches_per_epoch(n: int, batch_size: int, drop_last: bool, rank: int = 0, world_size: int = 1) -> int:
    """Batches in one epoch of rank `rank`'s share (every `world_size`-th sample) of `n` samples."""
    share = len(range(rank, n, world_size))
    return share // batch_size if drop_last else math.ceil(share / batch_size)


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
    """Iterable of (images, labels) batches sliced from tensors already in memory.

    `stack=k` yields k consecutive batches at once, stacked to (k, batch_size, ...): the same
    batches in the same order (the last item of an epoch may hold fewer). Training runs one step
    for each (training/module.py); one gather for k batches is also cheaper than k.
    """

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
        stack: int | None = None,
    ) -> None:
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        if stack is not None and not drop_last:
            raise ValueError("stacked batches must all be full: stack needs drop_last=True")
        self.images, self.labels = images, labels
        self.batch_size, self.drop_last, self.stack = batch_size, drop_last, stack
        self.sampler = EpochPermutation(len(images), shuffle, seed, rank, world_size)
        self.batch_sampler = None  # DataLoader-like attributes that Lightning inspects
        self._batches_done = 0  # batches (not stacks) in the current epoch; restored on resume
        self._resume_at: tuple[int, int] | None = None  # (epoch, batches done) from a checkpoint

    def batches_per_epoch(self) -> int:
        sampler = self.sampler
        return batches_per_epoch(sampler.n, self.batch_size, self.drop_last, sampler.rank, sampler.world_size)

    def __len__(self) -> int:
        return math.ceil(self.batches_per_epoch() / (self.stack or 1))

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = self.sampler.indices().to(self.images.device)  # once an epoch: gathers stay on the device
        gather = self.sampler.shuffle or self.sampler.world_size > 1
        start = 0
        if self._resume_at is not None:
            epoch, done = self._resume_at
            self._resume_at = None
            start = done if self.sampler.epoch == epoch else 0  # the trainer may have moved on an epoch
        total = self.batches_per_epoch()
        for first in range(start, total, self.stack or 1):
            last = min(first + (self.stack or 1), total)
            self._batches_done = last
            rows = slice(first * self.batch_size, last * self.batch_size)
            if gather:  # a gather per item beats copying the whole set each epoch
                index = order[rows]
                images, labels = self.images.index_select(0, index), self.labels.index_select(0, index)
            else:
                images, labels = self.images[rows], self.labels[rows]
            if self.stack is not None:
                images, labels = (
                    images.unflatten(0, (last - first, -1)),
                    labels.unflatten(0, (last - first, -1)),
                )
            yield images, labels
        self._batches_done = 0

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.sampler.epoch, "batches_done": self._batches_done}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Resume inside the saved epoch, after its done batches (none are left if it was saved at its end).

        The trainer then either finishes that epoch or, having counted it as done, starts the next
        one (`sampler.set_epoch`): the skip applies only to the saved epoch, so both give the
        order of a run never stopped."""
        self.sampler.set_epoch(state["epoch"])
        self._resume_at = (state["epoch"], state["batches_done"])
