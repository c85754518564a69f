"""CPU thread policy: all cores while the machine is ours, one thread while another process needs a core.

When another busy process holds one of the cores, every parallel region waits for a descheduled
thread. The governor watches, every `every_n_steps` steps, how much CPU the *other* processes
used (the machine's busy time from /proc/stat minus this process's own), and switches between
all cores and one thread with hysteresis. Linux only; elsewhere it stays off.

A run's result must not depend on what else the machine was doing, so the governor acts only
where the run's own training step gives the same bits on 1 and on all threads, checked on the
CPU at hand at the first step (a GEMM library may split a product differently by thread count).
Elsewhere the count stays fixed and one line says why. `numerics.py` asks MKL for the
thread-count-invariant mode that lets the check pass on x86 CPUs.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch

log = logging.getLogger(__name__)

PROC_STAT = Path("/proc/stat")


def machine_busy_seconds() -> float | None:
    """CPU seconds this machine's processes spent running since boot: /proc/stat's user, nice, system,
    irq and softirq (not idle, iowait, or steal: time a hypervisor gave to other machines)."""
    try:
        fields = [int(v) for v in PROC_STAT.read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq = fields[:7]
    busy = user + nice + system + irq + softirq
    return busy / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def same_bits_on(thread_counts: Sequence[int], compute: Callable[[], Sequence[torch.Tensor]]) -> bool:
    """Whether `compute()` returns bitwise-equal tensors with each of `thread_counts` CPU threads."""
    before = torch.get_num_threads()
    try:
        results = []
        for threads in thread_counts:
            torch.set_num_threads(threads)
            results.append([t.detach().clone() for t in compute()])
    finally:
        torch.set_num_threads(before)
    return all(
        len(r) == len(results[0]) and all(torch.equal(a, b) for a, b in zip(r, results[0]))
        for r in results[1:]
    )


def step_gradients(pl_module: L.LightningModule, batch: Any) -> Callable[[], list[torch.Tensor]]:
    """The run's own training loss and gradients for the first batch of a training item (as the
    module's step computes them), leaving the parameters' `.grad` as they were."""
    images, labels = (t[0] for t in batch)  # an item is a stack of batches

    def compute() -> list[torch.Tensor]:
        params = [p for p in pl_module.parameters() if p.requires_grad]  # not the moving average's
        kept = [p.grad for p in params]
        try:
            for p in params:
                p.grad = None  # so the gradients land in new buffers, not the run's
            loss = pl_module.step.gradients(images, labels)
            return [loss, *(p.grad for p in params)]
        finally:
            for p, grad in zip(params, kept):
                p.grad = grad

    return compute


class CpuThreadGovernor(L.Callback):
    """Between `max_threads` and 1 CPU threads, by the other processes' CPU use (in cores).

    Drops to one thread when the others used more than `busy_cores` over the last window;
    returns to `max_threads` after `calm_windows` windows in a row under `calm_cores`.
    """

    def __init__(
        self,
        max_threads: int,
        every_n_steps: int = 100,
        min_window_s: float = 0.25,
        busy_cores: float = 0.4,
        calm_cores: float = 0.2,
        calm_windows: int = 2,
    ) -> None:
        self.max_threads, self.every_n_steps, self.min_window_s = max_threads, every_n_steps, min_window_s
        self.busy_cores, self.calm_cores, self.calm_windows = busy_cores, calm_cores, calm_windows
        self.switches = 0
        self.thread_counts = {max_threads}  # every count the training loop ran with
        self.fixed_reason: str | None = None  # why the count stayed fixed, if it did
        self._last: tuple[float, float, float] | None = None
        self._checked = False
        self._calm = 0
        self._said = False

    @property
    def active(self) -> bool:
        return self.max_threads > 1 and machine_busy_seconds() is not None

    def _sample(self) -> tuple[float, float, float]:
        return time.perf_counter(), machine_busy_seconds() or 0.0, own_cpu_seconds()

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if self._checked:
            return
        self._checked = True
        if pl_module.device.type != "cpu":
            self.fixed_reason = f"training runs on {pl_module.device.type}"
        elif self.max_threads == 1:
            self.fixed_reason = "this run has one thread"
        elif not self.active:
            self.fixed_reason = "the machine's load cannot be read here (no /proc/stat)"
        if self.fixed_reason:
            return
        if not same_bits_on((1, self.max_threads), step_gradients(pl_module, batch)):
            self.fixed_reason = (
                f"one training step on 1 and {self.max_threads} threads gives different bits on this CPU, "
                "so the count cannot follow the machine's load without changing the result"
            )
            log.info("Training on a fixed %d threads: %s", self.max_threads, self.fixed_reason)
            return
        self._last = self._sample()

    @property
    def policy(self) -> str:
        """What the run's record says of its thread count."""
        return f"fixed: {self.fixed_reason}" if self.fixed_reason else "follows the machine's load"

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if self._last is None or trainer.global_step % self.every_n_steps:
            return
        now = self._sample()
        wall = now[0] - self._last[0]
        if wall < self.min_window_s:
            return
        others = ((now[1] - self._last[1]) - (now[2] - self._last[2])) / wall
        self._last = now
        self.adjust(others, trainer.global_step)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._last is not None:
            torch.set_num_threads(
                self.max_threads
            )  # the final validation and test start from the configured count
            self._last = None

    def adjust(self, other_cores: float, step: int) -> None:
        """Apply the policy to one window's reading of the other processes' CPU use."""
        threads = torch.get_num_threads()
        if threads > 1 and other_cores > self.busy_cores:
            self._switch(1, step, other_cores)
        elif threads == 1 and self.max_threads > 1:
            self._calm = self._calm + 1 if other_cores < self.calm_cores else 0
            if self._calm >= self.calm_windows:
                self._switch(self.max_threads, step, other_cores)

    def _switch(self, threads: int, step: int, other_cores: float) -> None:
        torch.set_num_threads(threads)
        self.thread_counts.add(threads)
        self.switches += 1
        self._calm = 0
        level = logging.DEBUG if self._said else logging.INFO
        self._said = True
        if threads == 1:
            log.log(
                level,
                "Step %d: other processes use %.1f CPU cores; training on 1 thread while they do "
                "(threads waiting for a shared core would stall both)",
                step,
                other_cores,
            )
        else:
            log.log(level, "Step %d: the CPU is free again; training on %d threads", step, threads)
