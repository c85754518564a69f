"""What really ran: the CPU (model and the ISA features that change speed or bits), the accelerator,
the library versions. Recorded in every run's metrics.json so results from different machines
are never mixed up unknowingly."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

# /proc/cpuinfo flags that decide which GEMM kernels run (speed, and the bits of a float result).
ISA_FLAGS = {"avx2": "AVX2", "avx512f": "AVX-512", "avx512_bf16": "AVX512-BF16", "amx_bf16": "AMX"}


def cpu_model() -> str:
    """The CPU's model name (Linux's /proc/cpuinfo), else what the platform module says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_isa() -> list[str]:
    """The ISA features of ISA_FLAGS this CPU has (empty where /proc/cpuinfo is unreadable)."""
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return []
    return [name for flag, name in ISA_FLAGS.items() if flag in flags]


def physical_cores() -> int:
    """Physical cores among the CPUs this process may run on: PyTorch's own default thread count
    (SMT siblings share a core's FMA units, so a second thread on one rarely speeds a GEMM up).
    `OMP_NUM_THREADS`, when set to a count, wins, as it does for PyTorch."""
    setting = os.environ.get("OMP_NUM_THREADS", "")
    if setting.isdigit() and int(setting) > 0:
        return int(setting)
    cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(os.cpu_count() or 1)
    cores = set()
    for cpu in cpus:
        topology = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            cores.add(((topology / "physical_package_id").read_text(), (topology / "core_id").read_text()))
        except OSError:
            cores.add(("cpu", str(cpu)))  # no topology here: count it as a core of its own
    return max(1, len(cores))


def package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def describe_machine(device: Any = None) -> dict[str, Any]:
    """CPU model, ISA features, the device trained on (a GPU's name), and the versions that ran."""
    import torch

    accelerator = None
    if device is not None and getattr(device, "type", None) == "cuda":
        accelerator = torch.cuda.get_device_name(device)
    return {
        "cpu": cpu_model(),
        "cpu_isa": cpu_isa(),
        "accelerator": accelerator,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "lightning": package_version("lightning"),
    }
