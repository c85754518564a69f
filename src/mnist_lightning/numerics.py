"""Settings that make a run's floating-point results independent of its CPU thread count.

MKL (PyTorch's fp32 GEMMs on x86) may split a product differently on 1 and on 2 threads, so the
sums round differently. Its conditional numerical reproducibility in strict mode keeps the split
fixed whatever the thread count; its cost on the training step was within noise where measured
(README, "Sharing the machine"). MKL reads the variable at its first call, so programs set it
before torch computes anything. The thread policy still checks the run's own step on the CPU at
hand (training/threads.py): another BLAS, or oneDNN's bf16 GEMMs, may not honour it.
"""

from __future__ import annotations

import os

MKL_REPRODUCIBLE = ("MKL_CBWR", "AUTO,STRICT")


def request_thread_count_invariant_gemms() -> None:
    """Ask MKL for strict conditional numerical reproducibility, unless the environment chose a mode."""
    name, value = MKL_REPRODUCIBLE
    os.environ.setdefault(name, value)
