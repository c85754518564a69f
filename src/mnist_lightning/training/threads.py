"""CPU thread policy: the job's share of the cores, less the cores other processes are using.

When another busy process holds a core, every parallel region waits for a descheduled thread,
so a run on more threads than the free cores stalls itself and the other. The governor reads how
much CPU the *other* processes used (the machine's busy time from /proc/stat minus this process's
own): first over the run's set-up, so a run started beside another begins on the right count,
then every `interval_s` seconds of training. It gives up as many threads as the others take
(rounded up past `slack` of a core), at once, and takes them back after `calm_windows` windows in
a row that leave them free. Linux only; elsewhere it stays off.

A run's result must not depend on what else the machine was doing, so the governor uses only
thread counts for which the run's own training step gives the same bits as on `max_threads`,
checked on the CPU at hand with the run's first batch (a GEMM library may split a product
differently by thread count). Where 1 thread differs, the count stays fixed and one line says
why. `numerics.py` asks MKL for the thread-count-invariant mode that lets the check pass on x86.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch

from mnist_lightning.machine import physical_cores
from mnist_lightning.training.stacking import first_step

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
    images, labels = first_step(batch)

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


def threads_beside(others: float, cores: int, max_threads: int, slack: float = 0.4) -> int:
    """Threads that fit on `cores` physical cores beside other processes using `others` cores:
    each core they use past `slack` of one costs a thread (others at 0.5 of 16 cores cost one, not
    fifteen), between 1 and `max_threads`."""
    taken = max(0, math.ceil(others - slack))
    return max(1, min(max_threads, cores - taken))


class CpuThreadGovernor(L.Callback):
    """Between `max_threads` and 1 CPU threads, by the other processes' CPU use on `cores` cores.

    Drops at once to `threads_beside(...)` when the others take cores; rises to what the last
    `calm_windows` windows all left free.
    """

    def __init__(
        self,
        max_threads: int,
        cores: int | None = None,
        interval_s: float = 0.5,
        min_window_s: float = 0.25,
        slack: float = 0.4,
        calm_windows: int = 2,
    ) -> None:
        self.max_threads, self.cores = max_threads, cores or physical_cores()
        self.interval_s, self.min_window_s, self.slack = interval_s, min_window_s, slack
        self.calm_windows = calm_windows
        self.switches = 0
        self.thread_counts = {max_threads}  # every count the training loop ran with
        self.fixed_reason: str | None = None  # why the count stayed fixed, if it did
        self._last = self._sample() if self.active else None  # the set-up window starts now
        self._probe: Callable[[], list[torch.Tensor]] | None = None
        self._same_bits = {max_threads: True}  # thread count -> the step's bits equal max_threads'
        self._checked = False
        self._free: list[int] = []  # the last windows' counts, while below max_threads
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
            self._last = None
            return
        self._probe = step_gradients(pl_module, batch)
        if not self._gives_same_bits(1):
            self.fixed_reason = (
                f"one training step on 1 and {self.max_threads} threads gives different bits on this CPU, "
                "so the count cannot follow the machine's load without changing the result"
            )
            log.info("Training on a fixed %d threads: %s", self.max_threads, self.fixed_reason)
            self._last = None
            return
        self._look(trainer.global_step)  # the set-up window: a run started beside another begins right

    def _gives_same_bits(self, threads: int) -> bool:
        if threads not in self._same_bits:
            self._same_bits[threads] = same_bits_on((self.max_threads, threads), self._probe)
        return self._same_bits[threads]

    @property
    def policy(self) -> str:
        """What the run's record says of its thread count."""
        return f"fixed: {self.fixed_reason}" if self.fixed_reason else "follows the machine's load"

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if self._last is not None and time.perf_counter() - self._last[0] >= self.interval_s:
            self._look(trainer.global_step)

    def _look(self, step: int) -> None:
        now = self._sample()
        wall = now[0] - self._last[0]
        if wall < self.min_window_s:
            return
        others = ((now[1] - self._last[1]) - (now[2] - self._last[2])) / wall
        self._last = now
        self.adjust(others, step)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._last is not None:
            torch.set_num_threads(
                self.max_threads
            )  # the final validation and test start from the configured count
            self._last = None

    def adjust(self, other_cores: float, step: int) -> None:
        """Apply the policy to one window's reading of the other processes' CPU use."""
        threads = torch.get_num_threads()
        free = threads_beside(other_cores, self.cores, self.max_threads, self.slack)
        if free < threads:
            self._free = []
            self._switch(free, step, other_cores)
        elif threads < self.max_threads:
            self._free = [*self._free, free][-self.calm_windows :]
            if len(self._free) == self.calm_windows and min(self._free) > threads:
                self._switch(min(self._free), step, other_cores)
                self._free = []

    def _switch(self, threads: int, step: int, other_cores: float) -> None:
        if self._probe is not None and not self._gives_same_bits(threads):
            threads = 1  # verified at the start; another count would change the result
            if threads == torch.get_num_threads():
                return
        torch.set_num_threads(threads)
        self.thread_counts.add(threads)
        self.switches += 1
        level = logging.DEBUG if self._said else logging.INFO
        self._said = True
        if threads < self.max_threads:
            log.log(
                level,
                "Step %d: other processes use %.1f CPU cores; training on %d thread%s while they do "
                "(threads waiting for a shared core would stall both)",
                step,
                other_cores,
                threads,
                "" if threads == 1 else "s",
            )
        else:
            log.log(level, "Step %d: the CPU is free again; training on %d threads", step, threads)
