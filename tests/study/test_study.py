"""The comparison study: sweeps, the report, failures and divergence in the table, correlation."""

import csv
import json
import math
import shutil

import pytest
from PIL import Image

from mnist_lightning.study.report import write_report
from mnist_lightning.study.stats import pearson, std
from tests.helpers import run_script, small_run_overrides, sweep_overrides

PNGS = ("comparison.png", "curves.png", "val_vs_test.png")


def test_pearson_by_hand():
    # x = 1,2,3; y = 1,2,4: sxy = 3, sxx = 2, syy = 42/9 -> r = 3 / sqrt(2 * 42 / 9)
    assert pearson([1, 2, 3], [1, 2, 4]) == pytest.approx(3 / math.sqrt(2 * 42 / 9))
    assert pearson([1, 2, 3], [3, 2, 1]) == pytest.approx(-1)
    assert math.isnan(pearson([1, 1], [2, 3]))
    assert std([1.0, 3.0]) == pytest.approx(math.sqrt(2)) and std([5.0]) == 0.0


@pytest.fixture(scope="module")
def sweep(synthetic_root, tmp_path_factory):
    folder = tmp_path_factory.mktemp("sweep")
    result = run_script(
        "train.py", "-m", "variant=all,no_hidden", "track_test=true", *sweep_overrides(synthetic_root),
        f"hydra.sweep.dir={folder}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return folder


def test_multirun_writes_jobs_and_the_report_automatically(sweep):
    jobs = sorted(p.parent for p in sweep.glob("*/metrics.json"))
    assert len(jobs) == 2 and "variant=all" in jobs[0].name and "variant=no_hidden" in jobs[1].name
    metrics = {json.loads((j / "metrics.json").read_text())["variant"]: json.loads((j / "metrics.json").read_text()) for j in jobs}
    with open(sweep / "results.csv") as handle:
        rows = {row["variant"]: row for row in csv.DictReader(handle)}
    assert list(rows) == ["all", "no_hidden"]
    for variant, row in rows.items():
        assert float(row["test_acc_mean"]) == pytest.approx(metrics[variant]["test_acc"])
        assert float(row["best_val_acc_mean"]) == pytest.approx(metrics[variant]["best_val_acc"])
        assert row["n_seeds"] == "1" and row["completed"] == "1" and int(row["steps"]) == 40
    assert metrics["no_hidden"]["weights"] == "ema"
    table = (sweep / "results.md").read_text()
    assert f"{metrics['all']['test_acc']:.4f}" in table and "Pearson correlation" in table
    for name in PNGS:
        with Image.open(sweep / name) as image:
            image.verify()
            assert image.format == "PNG"
    correlation = json.loads((sweep / "correlation.json").read_text())
    assert correlation["with_step0"]["n_checkpoints"] == 6 and correlation["without_step0"]["n_checkpoints"] == 4
    history = metrics["all"]["history"]
    assert history[0]["step"] == 0 and "tracked_test_acc_ema" in history[1]


def test_report_on_a_sweep_with_a_failed_job_reports_it_and_aggregates_the_rest(synthetic_root, tmp_path):
    result = run_script(
        "train.py", "-m", "model.activation=relu,swish", *sweep_overrides(synthetic_root, steps=20),
        f"hydra.sweep.dir={tmp_path}",
    )
    assert result.returncode != 0  # the sweep says a job failed...
    assert len(list(tmp_path.glob("*/metrics.json"))) == 1  # ...after the other job finished
    report = run_script("report.py", str(tmp_path))
    assert report.returncode == 0, report.stderr[-2000:]
    assert "failed" in report.stderr and "model.activation='swish'" in report.stdout + report.stderr
    with open(tmp_path / "results.csv") as handle:
        [row] = list(csv.DictReader(handle))
    assert row["n_seeds"] == "2" and row["completed"] == "1" and row["failed"] == "1"
    assert float(row["test_acc_mean"]) == pytest.approx(json.loads(next(tmp_path.glob("*/metrics.json")).read_text())["test_acc"])


def test_diverged_run_stops_cleanly_and_shows_in_the_report(synthetic_root, sweep, tmp_path):
    run = tmp_path / "sweep" / "9_diverged"
    result = run_script("train.py", *small_run_overrides(synthetic_root, run, steps=40), "lr=1e6", "variant=no_l2")
    assert result.returncode == 3
    output = result.stderr + result.stdout
    assert "training diverged" in output and "learning rate is probably too high" in output
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "diverged" and 0 < metrics["diverged_at_step"] <= 20
    assert not list(run.glob("checkpoints/*.ckpt"))  # no checkpoint of diverged (or any) weights
    for job in sweep.glob("*variant=all*"):
        shutil.copytree(job, tmp_path / "sweep" / job.name)
    rows = {row["variant"]: row for row in write_report(tmp_path / "sweep")["rows"]}
    assert rows["no_l2"]["diverged"] == 1 and rows["no_l2"]["test_acc_mean"] is None
    assert "diverged at step" in rows["no_l2"]["notes"]
    assert "| no_l2 | 0/1 | diverged |" in (tmp_path / "sweep" / "results.md").read_text()


def test_optuna_search_maximises_validation_accuracy(synthetic_root, tmp_path):
    result = run_script(
        "train.py", "-m", "hparams_search=mnist_optuna", "hydra.sweeper.n_trials=2",
        "hydra.sweeper.sampler.n_startup_trials=2",
        *sweep_overrides(synthetic_root, steps=20, free=("lr", "data.batch_size")),
        f"hydra.sweep.dir={tmp_path}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    from omegaconf import OmegaConf

    best = OmegaConf.load(tmp_path / "optimization_results.yaml")
    trials = [json.loads(p.read_text()) for p in tmp_path.glob("*/metrics.json")]
    assert len(trials) == 2
    assert best.best_value == pytest.approx(max(t["val_acc"] for t in trials))
    assert set(best.best_params) == {"lr", "lr_schedule.decay_rate", "reg.rate", "model.hidden.0", "data.batch_size", "ema.decay"}
    assert all("test_acc" not in k for k in best.best_params)
