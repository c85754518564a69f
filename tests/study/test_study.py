"""Sweeps of any key: rows per configuration, intervals, figures that fit, failures and divergence, Optuna."""

import csv
import json
import math
import shutil
import statistics
import subprocess
import sys
import time

import pytest
from PIL import Image
from scipy import stats as scipy_stats

from mnist_lightning.hydra_setup import PROJECT_ROOT
from mnist_lightning.study.aggregate import aggregate, mixed_machines_note
from mnist_lightning.study.runs import Run
from mnist_lightning.study.stats import pearson, std, summary, welch_interval
from tests.helpers import run_script, small_run_overrides, sweep_overrides


def read_csv(path):
    with open(path) as handle:
        return list(csv.DictReader(handle))


def job_metrics(sweep, **overrides):
    """metrics.json of every job of `sweep` whose folder name holds all `key=value` given."""
    wanted = [f"{k.replace('__', '.')}={v}" for k, v in overrides.items()]
    return [
        json.loads(p.read_text())
        for p in sorted(sweep.glob("*/metrics.json"))
        if all(w in p.parent.name for w in wanted)
    ]


def assert_png(path):
    with Image.open(path) as image:
        image.verify()
        assert image.format == "PNG"


def test_pearson_by_hand():
    # x = 1,2,3; y = 1,2,4: sxy = 3, sxx = 2, syy = 42/9 -> r = 3 / sqrt(2 * 42 / 9)
    assert pearson([1, 2, 3], [1, 2, 4]) == pytest.approx(3 / math.sqrt(2 * 42 / 9))
    assert pearson([1, 2, 3], [3, 2, 1]) == pytest.approx(-1)
    assert math.isnan(pearson([1, 1], [2, 3]))
    assert std([1.0, 3.0]) == pytest.approx(math.sqrt(2)) and std([5.0]) == 0.0


def test_welch_interval_by_hand_and_against_scipy():
    a, b = [0.9842, 0.9837, 0.9849], [0.9830, 0.9823, 0.9834]
    diff, low, high = welch_interval(summary(a), summary(b))
    # by hand: se^2 = var(a)/3 + var(b)/3; df from Welch-Satterthwaite; t quantile from scipy
    va, vb = statistics.variance(a) / 3, statistics.variance(b) / 3
    df = (va + vb) ** 2 / (va**2 / 2 + vb**2 / 2)
    half = scipy_stats.t.ppf(0.975, df) * math.sqrt(va + vb)
    assert diff == pytest.approx(statistics.fmean(a) - statistics.fmean(b))
    assert (low, high) == pytest.approx((diff - half, diff + half))
    reference = scipy_stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert (low, high) == pytest.approx((reference.low, reference.high))
    assert low > 0  # these two really differ
    assert welch_interval(summary([0.98]), summary(b)) is None  # one seed: no interval


@pytest.fixture(scope="module")
def study(synthetic_root, tmp_path_factory):
    folder = tmp_path_factory.mktemp("study")
    result = run_script(
        "train.py",
        "-m",
        "variant=all,no_hidden",
        "track_test=true",
        *sweep_overrides(synthetic_root),
        f"hydra.sweep.dir={folder}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return folder


def test_the_study_reads_as_before_with_differences_to_all(study):
    jobs = sorted(p.parent for p in study.glob("*/metrics.json"))
    assert len(jobs) == 2 and "variant=all" in jobs[0].name and "variant=no_hidden" in jobs[1].name
    metrics = {m["variant"]: m for m in (json.loads((j / "metrics.json").read_text()) for j in jobs)}
    rows = {row["variant"]: row for row in read_csv(study / "results.csv")}
    assert list(rows) == ["all", "no_hidden"]
    for variant, row in rows.items():
        assert float(row["test_acc_mean"]) == pytest.approx(metrics[variant]["test_acc"])
        assert float(row["best_val_acc_mean"]) == pytest.approx(metrics[variant]["best_val_acc"])
        assert row["n_seeds"] == "1" and row["completed"] == "1" and int(row["steps"]) == 40
    assert float(rows["no_hidden"]["diff_vs_reference"]) == pytest.approx(
        metrics["no_hidden"]["test_acc"] - metrics["all"]["test_acc"]
    )
    table = (study / "results.md").read_text()
    assert table.startswith("| variant | seeds |") and "Δ vs all, paired [95% CI]" in table
    assert "| all | 1/1 |" in table and "reference" in table and "(1 seed: no interval)" in table
    assert f"{metrics['all']['test_acc']:.4f}" in table and "Pearson correlation" in table
    for name in ("comparison.png", "curves.png", "val_vs_test.png"):
        assert_png(study / name)
    correlation = json.loads((study / "correlation.json").read_text())
    assert (
        correlation["with_step0"]["n_checkpoints"] == 6 and correlation["without_step0"]["n_checkpoints"] == 4
    )
    assert (
        metrics["all"]["history"][0]["step"] == 0 and "tracked_test_acc_ema" in metrics["all"]["history"][1]
    )


@pytest.fixture(scope="module")
def lr_sweep(synthetic_root, tmp_path_factory):
    """-m lr=0.1,1e6 seed=1,2: one configuration trains, the other diverges in both seeds."""
    folder = tmp_path_factory.mktemp("lr_sweep")
    result = run_script(
        "train.py",
        "-m",
        "lr=0.1,1e6",
        "seed=1,2",
        *sweep_overrides(synthetic_root, free=("lr",)),
        f"hydra.sweep.dir={folder}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return folder


def test_rows_are_configurations_and_seeds_are_aggregated(lr_sweep):
    rows = read_csv(lr_sweep / "results.csv")
    assert [row["lr"] for row in rows] == ["0.1", "1000000.0"] and [row["label"] for row in rows] == [
        "lr=0.1",
        "lr=1000000.0",
    ]
    good = job_metrics(lr_sweep, lr="0.1")
    tests = [m["test_acc"] for m in good]
    assert len(good) == 2 and {m["seed"] for m in good} == {1, 2}
    assert float(rows[0]["test_acc_mean"]) == pytest.approx(statistics.fmean(tests))
    assert float(rows[0]["test_acc_std"]) == pytest.approx(statistics.stdev(tests))
    assert rows[0]["n_seeds"] == "2" and rows[0]["completed"] == "2"


def test_rows_say_what_ran_and_the_report_says_when_jobs_ran_on_one_machine(lr_sweep):
    row = read_csv(lr_sweep / "results.csv")[0]
    [metrics] = job_metrics(lr_sweep, lr="0.1")[:1]
    assert row["compute_dtype"] == metrics["compute_dtype"] == "fp32"
    assert row["cpu"].startswith(metrics["machine"]["cpu"])
    assert f"Every job ran in fp32 on {row['cpu']}." in (lr_sweep / "results.md").read_text()


def test_a_report_whose_jobs_ran_on_different_machines_or_dtypes_says_so(tmp_path):
    def run(seed, dtype, cpu, isa):
        metrics = {
            "status": "completed",
            "test_acc": 0.98,
            "wall_time_s": 1.0,
            "compute_dtype": dtype,
            "machine": {"cpu": cpu, "cpu_isa": isa},
        }
        return Run(tmp_path / str(seed), "completed", seed, {}, metrics, None)

    same = [run(1, "fp32", "AMD EPYC", ["AVX2"]), run(2, "fp32", "AMD EPYC", ["AVX2"])]
    assert mixed_machines_note(same) is None
    mixed = same + [run(3, "bf16", "Intel Xeon", ["AVX2", "AMX"])]
    note = mixed_machines_note(mixed)
    assert note.startswith(
        "These jobs ran in 2 compute dtypes (bf16, fp32) and on 2 kinds of machine "
        "(AMD EPYC (AVX2); Intel Xeon (AVX2, AMX))"
    )
    [row], _ = aggregate(mixed, [])
    assert row["compute_dtype"] == "bf16/fp32" and row["cpu"] == "AMD EPYC (AVX2) / Intel Xeon (AVX2, AMX)"


def test_a_diverged_configuration_is_marked_not_averaged(lr_sweep):
    diverged = read_csv(lr_sweep / "results.csv")[1]
    assert diverged["diverged"] == "2" and diverged["completed"] == "0" and diverged["test_acc_mean"] == ""
    steps = {
        json.loads(p.read_text())["diverged_at_step"] for p in lr_sweep.glob("*lr=1000000.0*/metrics.json")
    }
    named = (
        [f"seeds 1, 2 diverged at step {s}" for s in steps]
        if len(steps) == 1
        else ["seed 1 diverged at step"]
    )
    assert all(text in diverged["notes"] for text in named), diverged["notes"]
    table = (lr_sweep / "results.md").read_text()
    assert "| 1000000.0 | 0/2 | diverged |" in table and "Δ vs lr=0.1, paired" in table
    assert_png(lr_sweep / "accuracy_vs_lr.png")  # numeric key: accuracy against the value, diverged marked
    assert not (lr_sweep / "comparison.png").exists()


def test_report_py_gives_the_same_results_and_takes_a_reference(lr_sweep):
    before = (lr_sweep / "results.csv").read_text()
    report = run_script("report.py", str(lr_sweep))
    assert report.returncode == 0, report.stderr[-2000:]
    assert (lr_sweep / "results.csv").read_text() == before
    bad = run_script("report.py", str(lr_sweep), "--reference", "lr=0.5")
    assert bad.returncode == 2 and "names 0 configurations; choose one of: lr=0.1, lr=1000000.0" in bad.stderr
    unknown = run_script("report.py", str(lr_sweep), "--colour", "blue")
    assert unknown.returncode == 2 and "unrecognized arguments: --colour" in unknown.stderr


def test_two_keys_short_jobs_validate_at_their_last_step_and_get_a_heat_map(synthetic_root, tmp_path):
    """A 2x2 sweep of 10-step jobs, shorter than the validation interval (20)."""
    result = run_script(
        "train.py",
        "-m",
        "lr=0.1,0.2",
        "reg.rate=0,1e-4",
        *sweep_overrides(synthetic_root, steps=10, free=("lr",)),
        f"hydra.sweep.dir={tmp_path}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = job_metrics(tmp_path)
    assert len(jobs) == 4 and all(m["val_acc"] is not None and m["history"][-1]["step"] == 10 for m in jobs)
    rows = read_csv(tmp_path / "results.csv")
    assert [(r["lr"], r["reg.rate"]) for r in rows] == [
        ("0.1", "0"),
        ("0.1", "0.0001"),
        ("0.2", "0"),
        ("0.2", "0.0001"),
    ]
    assert_png(tmp_path / "heatmap.png")
    assert_png(tmp_path / "curves.png")  # one point per configuration, at step 10
    assert "| lr | reg.rate | seeds |" in (tmp_path / "results.md").read_text()


def test_a_failed_job_is_recorded_the_others_run_and_the_sweep_reports_then_exits_4(synthetic_root, tmp_path):
    result = run_script(
        "train.py",
        "-m",
        "model.activation=swish,relu",
        *sweep_overrides(synthetic_root, steps=20),
        f"hydra.sweep.dir={tmp_path}",
    )
    output = result.stdout + result.stderr
    assert result.returncode == 4 and "Traceback" not in output, output[
        -3000:
    ]  # documented: some jobs failed
    assert "1 of 2 jobs of the sweep" in output and "0_model.activation=swish" in output
    assert len(list(tmp_path.glob("*/metrics.json"))) == 1  # the job after the failed one ran
    failed = json.loads(next(tmp_path.glob("*/failed.json")).read_text())
    assert "model.activation='swish'" in failed["error"]
    swish, relu = read_csv(tmp_path / "results.csv")  # the sweep's own report
    assert relu["model.activation"] == "relu" and relu["completed"] == "1"
    assert float(relu["test_acc_mean"]) == pytest.approx(
        json.loads(next(tmp_path.glob("*/metrics.json")).read_text())["test_acc"]
    )
    assert (
        swish["failed"] == "1"
        and swish["test_acc_mean"] == ""
        and "model.activation='swish'" in swish["notes"]
    )
    assert "seed 1 failed: " in (tmp_path / "results.md").read_text()


@pytest.mark.parametrize(
    ("damage", "said"),
    [
        (lambda job: (job / "metrics.json").write_text('{"status": "compl'), "unreadable metrics.json"),
        (lambda job: (job / "metrics.json").write_text("[1, 2]"), "unreadable metrics.json"),
        (lambda job: (job / ".hydra" / "overrides.yaml").write_text("- a: [b"), "unreadable .hydra/"),
        (lambda job: (job / ".hydra" / "overrides.yaml").write_text("a: 1"), "unreadable .hydra/"),
        (lambda job: (job / "metrics.json").unlink(), "no metrics.json written"),
    ],
)
def test_report_py_names_each_unreadable_job_of_a_half_written_sweep(lr_sweep, tmp_path, damage, said):
    sweep = tmp_path / "sweep"
    shutil.copytree(lr_sweep, sweep)
    (sweep / "results.md").unlink()
    damaged = min(p.parent for p in sweep.glob("*/metrics.json"))
    damage(damaged)
    report = run_script("report.py", str(sweep))
    assert report.returncode == 0 and "Traceback" not in report.stderr, report.stderr[-2000:]
    assert f"Job {damaged.name} failed: " in report.stderr and said in report.stderr
    assert said in (sweep / "results.md").read_text()


def test_a_diverged_single_run_stops_cleanly(synthetic_root, tmp_path):
    run = tmp_path / "diverged"
    result = run_script(
        "train.py", *small_run_overrides(synthetic_root, run, steps=40), "lr=1e6", "variant=no_l2"
    )
    assert result.returncode == 3
    output = result.stderr + result.stdout
    assert "training diverged" in output and "learning rate is probably too high" in output
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "diverged" and 0 < metrics["diverged_at_step"] <= 20
    step = metrics["diverged_at_step"]
    # checked when the loss is logged (every 10 steps here): the message gives the range, not one step
    assert f"became non-finite between steps 1 and {step} (still finite at step 0" in output or step == 1
    assert not list(run.glob("checkpoints/*.ckpt"))  # no checkpoint of diverged (or any) weights


def completed_trials(sweep) -> list:
    """The search's completed trials; none while it has created its database but not yet its study."""
    import optuna
    from optuna.trial import TrialState

    try:
        study = optuna.load_study(study_name="mnist_mlp", storage=f"sqlite:///{sweep}/optuna.db")
    except KeyError:  # optuna's "Record does not exist.": the study row is not written yet
        return []
    return study.get_trials(states=(TrialState.COMPLETE,))


def test_optuna_search_killed_then_resumed_ends_with_the_requested_trials_and_reports(
    synthetic_root, tmp_path
):
    command = [
        "-m",
        "hparams_search=mnist_optuna",
        "hydra.sweeper.n_trials=4",
        "hydra.sweeper.sampler.n_startup_trials=4",
        "report.retrain_best_seeds=2",
        *sweep_overrides(synthetic_root, steps=20, free=("lr", "data.batch_size")),
        f"hydra.sweep.dir={tmp_path}",
    ]
    search = subprocess.Popen(
        [sys.executable, str(PROJECT_ROOT / "src" / "train.py"), *command],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:  # kill the search once two trials are complete in its database
        deadline = time.monotonic() + 120
        while not ((tmp_path / "optuna.db").is_file() and len(completed_trials(tmp_path)) >= 2):
            assert search.poll() is None and time.monotonic() < deadline, "the search ended or stalled"
            time.sleep(0.2)
    finally:
        search.kill()
        search.wait()
    done = len(completed_trials(tmp_path))  # two, or three if a short trial ended between a poll and the kill
    assert 2 <= done < 4

    result = run_script("train.py", *command)  # the same command again: it continues the study
    assert result.returncode == 0, result.stderr[-3000:]
    continuing = f"Continuing study mnist_mlp: {done} of 4 trials complete, {4 - done} to run"
    assert continuing in result.stdout + result.stderr
    complete = completed_trials(tmp_path)
    assert (
        len(complete) == 4 and len({tuple(sorted(t.params.items())) for t in complete}) == 4
    )  # none repeated
    from omegaconf import OmegaConf

    best = OmegaConf.load(tmp_path / "optimization_results.yaml")
    trials = read_csv(tmp_path / "trials.csv")
    values = {json.loads(p.read_text())["val_acc"] for p in tmp_path.glob("*/metrics.json")}
    assert {float(t["value"]) for t in trials if t["value"]} == values == {t.value for t in complete}
    assert sorted(int(t["trial"]) for t in trials if t["value"]) == sorted(t.number for t in complete)
    assert best.best_value == pytest.approx(max(values))
    assert set(best.best_params) == {
        "lr",
        "lr_schedule.decay_rate",
        "reg.rate",
        "model.hidden.0",
        "data.batch_size",
        "ema.decay",
    }
    line = (tmp_path / "best_overrides.txt").read_text()
    assert (
        all(f"{k}={v}" in line for k, v in best.best_params.items()) and f"data.root={synthetic_root}" in line
    )
    assert_png(tmp_path / "optimization_history.png")
    retrained = [json.loads(p.read_text()) for p in (tmp_path / "best_retrained").glob("*/metrics.json")]
    assert sorted(m["seed"] for m in retrained) == [1, 2]
    mean_test = statistics.fmean(m["test_acc"] for m in retrained)
    text = (tmp_path / "results.md").read_text()
    assert "## Optuna search" in text and "re-trained after the search with 2 seeds (measured once" in text
    assert f"{mean_test:.4f}" in text
    assert "| val_acc (maximised) | status |" in text and f"Best val_acc {best.best_value:.4f} with" in text


def test_a_failing_retrain_of_the_best_configuration_is_reported(tmp_path, monkeypatch, caplog):
    from mnist_lightning.study import search

    monkeypatch.setattr(search, "best_command", lambda sweep, runs: ["no_such_key=1"])  # the child exits 2
    monkeypatch.setattr(search, "find_runs", lambda sweep: [])
    monkeypatch.setenv("PYTHONPATH", str(PROJECT_ROOT / "src"))  # as setup_hydra() sets it for a checkout
    with caplog.at_level("ERROR"):
        target = search.retrain_best(tmp_path, seeds=1)
    assert target == tmp_path / "best_retrained"
    assert "Re-training the best configuration failed (exit 2)" in caplog.text


def test_an_optuna_storage_that_cannot_be_opened_is_one_line(tmp_path):
    result = run_script(
        "train.py",
        "-m",
        "hparams_search=mnist_optuna",
        "hydra.sweeper.storage=postgresql://nohost.invalid/db",
        f"hydra.sweep.dir={tmp_path}",
    )
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert (
        len(errors) == 1
        and "hydra.sweeper.storage=postgresql://nohost.invalid/db cannot be opened" in errors[0]
    )
