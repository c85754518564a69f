"""Sweeps through other Hydra launchers: submitit (local here, SLURM on a cluster) and joblib."""

import json

import pytest

from mnist_lightning.machine import physical_cores
from tests.helpers import run_script, sweep_overrides


@pytest.mark.parametrize(
    "launcher",
    [["hydra/launcher=submitit_local"], ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]],
    ids=["submitit_local", "joblib"],
)
def test_two_job_sweep_runs_each_job_in_its_own_process(synthetic_root, tmp_path, launcher):
    result = run_script(
        "train.py",
        "-m",
        *launcher,
        "seed=1,2",
        *sweep_overrides(synthetic_root, steps=20),
        f"hydra.sweep.dir={tmp_path}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = sorted(p.name for p in tmp_path.iterdir() if (p / "metrics.json").exists())
    assert jobs == ["0_seed=1", "1_seed=2"]
    metrics = [json.loads((tmp_path / job / "metrics.json").read_text()) for job in jobs]
    assert [m["seed"] for m in metrics] == [1, 2] and (tmp_path / "results.csv").exists()
    # Parallel jobs share the cores (OpenMP threads waiting for a busy core would spin); one at a time gets all.
    cores = physical_cores()
    assert [m["cpu_threads"] for m in metrics] == [
        max(1, cores // 2) if "joblib" in launcher[0] else cores
    ] * 2
    if launcher[0].endswith("submitit_local"):
        assert len(list((tmp_path / ".submitit").glob("*/*_log.out"))) == 2  # two submitted processes
