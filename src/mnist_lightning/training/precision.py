"""Which dtype the training GEMMs run in, for the configured `precision` and the device at hand."""

from __future__ import annotations

import logging

import torch

from mnist_lightning.models.mlp_gradients import COMPUTE_DTYPES

log = logging.getLogger(__name__)


def native_bf16(device: torch.device) -> bool:
    """bf16 GEMMs in hardware: AVX512-BF16 or AMX on x86 CPUs, compute capability 8.0+ on CUDA.

    Elsewhere oneDNN would emulate bf16 in fp32 registers: slower than fp32, so not worth its error.
    """
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    if device.type == "cpu":
        return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    return False


def training_dtype(precision: str, device: torch.device, single_process: bool = True) -> torch.dtype:
    """`COMPUTE_DTYPES[precision]`, or fp32 with one warning line where bf16 is not native, or where the
    run has several processes (bf16 GEMMs are the hand-written step's; DDP runs plain autograd)."""
    dtype = COMPUTE_DTYPES[precision]
    if dtype == torch.bfloat16 and not native_bf16(device):
        log.warning(
            "precision=bf16: this %s has no native bf16 (AVX512-BF16/AMX, or CUDA 8.0+); training in fp32",
            device.type,
        )
        return torch.float32
    if dtype == torch.bfloat16 and not single_process:
        log.warning("precision=bf16 is for one process (DDP runs plain autograd); training in fp32")
        return torch.float32
    return dtype
