"""Two CPU processes with DDP (gloo) train the same model a single process does."""

import json

import torch

from mnist_lightning.training.run import train
from tests.helpers import compose_train, run_script, small_run_overrides


def test_ddp_cpu_two_processes_match_a_single_process(synthetic_root, tmp_path):
    # Rank r takes positions r, r+2, ... of each epoch's permutation, so with 25 images per
    # process the two shards of step i are exactly the single process's 50-image batch i,
    # and DDP's averaged gradient is the single process's gradient.
    common = ["test=true", "lr=0.3", "logger=none"]
    single = small_run_overrides(synthetic_root, tmp_path / "single", steps=40) + common
    ddp = small_run_overrides(synthetic_root, tmp_path / "ddp", steps=40) + common
    ddp = [o for o in ddp if not o.startswith("data.batch_size")] + ["trainer=ddp_cpu", "data.batch_size=25"]
    train(compose_train(single), tmp_path / "single")  # the reference, in this process
    result = run_script("train.py", *ddp, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    ddp_output = result.stdout + result.stderr
    assert "GLOBAL_RANK: 1, MEMBER: 2/2" in ddp_output

    checkpoints = sorted(p.name for p in (tmp_path / "ddp" / "checkpoints").iterdir())
    assert checkpoints == ["last.ckpt", "step000020.ckpt", "step000040.ckpt"]  # written once, by rank 0
    a = torch.load(tmp_path / "single" / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "ddp" / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    for name in a:
        assert torch.allclose(a[name].float(), b[name].float(), atol=1e-4), name  # raw and EMA weights
    single_metrics = json.loads((tmp_path / "single" / "metrics.json").read_text())
    ddp_metrics = json.loads((tmp_path / "ddp" / "metrics.json").read_text())
    assert abs(single_metrics["test_acc"] - ddp_metrics["test_acc"]) <= 0.01
    assert [h["step"] for h in ddp_metrics["history"]] == [20, 40]


def test_ddp_inside_a_multirun_is_refused_with_a_clear_message(synthetic_root, tmp_path):
    overrides = small_run_overrides(synthetic_root, steps=20)
    result = run_script(
        "train.py", "-m", "trainer=ddp_cpu", "seed=1,2", *overrides, f"hydra.sweep.dir={tmp_path}"
    )
    output = result.stdout + result.stderr
    assert result.returncode == 4 and "Traceback" not in output  # every job refused, each one line
    assert "cannot run inside a Hydra multirun" in output
    assert output.count("Launching 2 jobs locally") == 1  # no child re-ran the sweep
    assert not list(tmp_path.glob("*/checkpoints"))
