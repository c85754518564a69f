"""precision=bf16: a training-GEMM setting only; weights, checkpoints and evaluation stay fp32."""

import json
import logging
from pathlib import Path

import pytest
import torch

from mnist_lightning.persistence.checkpoints import load_checkpoint
from mnist_lightning.persistence.restore import mlp_from_checkpoint
from mnist_lightning.training import precision as precision_module
from mnist_lightning.training.precision import training_dtype
from mnist_lightning.training.run import train
from tests.helpers import compose_train, small_run_overrides


def test_bf16_run_writes_fp32_checkpoints_that_fp32_runs_resume(synthetic_root, tmp_path):
    bf16 = tmp_path / "bf16"
    record = train(
        compose_train(small_run_overrides(synthetic_root, bf16, steps=40) + ["precision=bf16"]), bf16
    )
    assert record["status"] == "completed" and record["test_acc"] > 0.5
    checkpoint = load_checkpoint(bf16 / "checkpoints" / "last.ckpt")
    assert checkpoint["hyper_parameters"]["precision"] == "bf16"
    assert all(t.dtype in (torch.float32, torch.int64) for t in checkpoint["state_dict"].values())
    # the same checkpoint resumes in an fp32 run: interchangeable
    fp32 = tmp_path / "fp32"
    overrides = small_run_overrides(synthetic_root, fp32, steps=60) + [
        f"ckpt_path={bf16 / 'checkpoints' / 'last.ckpt'}"
    ]
    resumed = train(compose_train(overrides), fp32)
    assert resumed["step"] == 60 and json.loads((fp32 / "metrics.json").read_text())["status"] == "completed"
    assert load_checkpoint(fp32 / "checkpoints" / "last.ckpt")["hyper_parameters"]["precision"] == "fp32"


NATIVE_BF16 = precision_module.native_bf16(torch.device("cpu"))


@pytest.mark.skipif(
    not NATIVE_BF16, reason="this CPU has no native bf16 (AVX512-BF16/AMX): precision=bf16 trains in fp32"
)
def test_bf16_differs_from_fp32_only_within_bf16_rounding(synthetic_root, tmp_path):
    weights = {}
    for precision in ("fp32", "bf16"):
        out = tmp_path / precision
        record = train(
            compose_train(
                small_run_overrides(synthetic_root, out, steps=20) + [f"precision={precision}", "test=false"]
            ),
            out,
        )
        assert record["compute_dtype"] == precision
        weights[precision] = mlp_from_checkpoint(load_checkpoint(out / "checkpoints" / "last.ckpt"), "raw")
    for (name, a), b in zip(weights["fp32"].named_parameters(), weights["bf16"].parameters()):
        assert not torch.equal(a, b), name  # bf16 really ran
        assert (a - b).norm() <= 2e-2 * a.norm(), name


def test_without_native_bf16_it_says_so_once_trains_in_fp32_and_records_it(
    synthetic_root, tmp_path, monkeypatch, caplog
):
    """What must hold on every CPU: where bf16 is not native (forced here), one line, fp32 bits, fp32 on record."""
    monkeypatch.setattr(precision_module, "native_bf16", lambda device: False)
    weights, records = {}, {}
    with caplog.at_level(logging.WARNING):
        for precision in ("fp32", "bf16"):
            out = tmp_path / precision
            overrides = small_run_overrides(synthetic_root, out, steps=20) + [
                f"precision={precision}",
                "test=false",
                "torch_threads=1",
            ]
            records[precision] = train(compose_train(overrides), out)
            weights[precision] = load_checkpoint(out / "checkpoints" / "last.ckpt")["state_dict"]
    notices = [r.getMessage() for r in caplog.records if "native bf16" in r.getMessage()]
    assert notices == [
        "precision=bf16: this cpu has no native bf16 (AVX512-BF16/AMX, or CUDA 8.0+); training in fp32"
    ]
    assert records["bf16"]["compute_dtype"] == records["fp32"]["compute_dtype"] == "fp32"
    assert all(
        torch.equal(weights["fp32"][k], weights["bf16"][k]) for k in weights["fp32"]
    )  # the same fp32 run
    assert training_dtype("fp32", torch.device("cpu")) == torch.float32


def test_native_bf16_agrees_with_the_cpu_flags_linux_reports():
    flags = Path("/proc/cpuinfo").read_text().split()
    assert precision_module.native_bf16(torch.device("cpu")) == (
        "avx512_bf16" in flags or "amx_bf16" in flags
    )
