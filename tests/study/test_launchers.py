"""Sweeps through other Hydra launchers: submitit (local here, SLURM on a cluster) and joblib."""

import json

import pytest

from tests.helpers import run_script, sweep_overrides


@pytest.mark.parametrize(
    "launcher",
    [["hydra/launcher=submitit_local"], ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "torch_threads=1"]],
    ids=["submitit_local", "joblib"],
)
def test_two_job_sweep_runs_each_job_in_its_own_process(synthetic_root, tmp_path, launcher):
    result = run_script(
        "train.py", "-m", *launcher, "seed=1,2", *sweep_overrides(synthetic_root, steps=20), f"hydra.sweep.dir={tmp_path}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = sorted(p.name for p in tmp_path.iterdir() if (p / "metrics.json").exists())
    assert jobs == ["0_seed=1", "1_seed=2"]
    seeds = [json.loads((tmp_path / job / "metrics.json").read_text())["seed"] for job in jobs]
    assert seeds == [1, 2] and (tmp_path / "results.csv").exists()
    if launcher[0].endswith("submitit_local"):
        assert len(list((tmp_path / ".submitit").glob("*/*_log.out"))) == 2  # two submitted processes
