"""`report.raw_weights_of: {no_ema: all}`: the study reads no_ema from all's raw weights instead of training it."""

import csv
import json

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from mnist_lightning.errors import ConfigError
from mnist_lightning.study.raw_weights import add_raw_weights_runs, raw_weights_record
from mnist_lightning.study.report import read_sweep
from mnist_lightning.study.runs import Run, find_runs, read_run
from tests.helpers import PROJECT_ROOT, run_script, sweep_overrides, train_small_run


def raw_weights(run_folder):
    state = torch.load(run_folder / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    return {k: v for k, v in state.items() if k.startswith("net.")}


def test_ema_off_trains_bit_for_bit_what_ema_on_trains(synthetic_root, tmp_path):
    on = train_small_run(synthetic_root, tmp_path / "all", "variant=all", "seed=5", steps=80)
    off = train_small_run(synthetic_root, tmp_path / "no_ema", "variant=no_ema", "seed=5", steps=80)
    weights, weights_off = raw_weights(tmp_path / "all"), raw_weights(tmp_path / "no_ema")
    assert weights.keys() == weights_off.keys() and all(
        torch.equal(weights[k], weights_off[k]) for k in weights
    )
    read = raw_weights_record(read_run(tmp_path / "all"), {"variant": "no_ema"}, "all").metrics
    assert on["weights"] == "ema" and off["weights"] == read["weights"] == "raw"
    for key in ("test_acc", "val_acc", "best_val_acc", "step", "status"):
        assert read[key] == off[key], key
    assert [r["val_acc_raw"] for r in read["history"]] == [r["val_acc_raw"] for r in off["history"]]


STUDY = PROJECT_ROOT / "outputs" / "study-2026-12-03"


@pytest.mark.parametrize("dataset", ["mnist", "fashion_mnist"])
def test_no_ema_jobs_trained_on_their_own_equal_what_the_study_reads_from_all(dataset):
    """Full 30k-step jobs on MNIST and Fashion-MNIST, trained on their own, against all's raw weights."""
    trained = {r.seed: r.metrics for r in find_runs(STUDY / "no_ema-trained" / dataset)}
    runs, _, _ = read_sweep(STUDY / dataset)
    read = {r.seed: r.metrics for r in runs if r.overrides.get("variant") == "no_ema"}
    assert len(trained) == 10 and trained.keys() == read.keys()
    assert all(metrics.get("raw_weights_of") == "all" for metrics in read.values())
    for seed, metrics in trained.items():
        for key in ("test_acc", "val_acc", "best_val_acc", "weights", "step", "status"):
            assert read[seed][key] == metrics[key], (seed, key)
        assert [r["val_acc_raw"] for r in read[seed]["history"]] == [
            r["val_acc_raw"] for r in metrics["history"]
        ]


def write_csv_rows(path):
    with open(path) as handle:
        return {row["variant"]: row for row in csv.DictReader(handle)}


def test_a_sweep_reports_no_ema_from_all_without_training_it(synthetic_root, tmp_path):
    result = run_script(
        "train.py",
        "-m",
        "variant=all,no_l2",
        "seed=1,2",
        "+report.raw_weights_of={no_ema:all}",
        *sweep_overrides(synthetic_root),
        f"hydra.sweep.dir={tmp_path}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert not list(tmp_path.glob("*no_ema*"))  # nothing trained for it
    jobs = [json.loads(p.read_text()) for p in sorted(tmp_path.glob("*variant=all/metrics.json"))]
    rows = write_csv_rows(tmp_path / "results.csv")
    assert list(rows) == ["all", "no_l2", "no_ema"]
    raw = [job["test_acc_raw"] for job in jobs]
    assert float(rows["no_ema"]["test_acc_mean"]) == pytest.approx(sum(raw) / 2, abs=1e-12)
    assert float(rows["no_ema"]["paired_diff"]) == pytest.approx(
        sum(job["test_acc_raw"] - job["test_acc"] for job in jobs) / 2, abs=1e-12
    )
    assert rows["no_ema"]["wall_time_s_mean"] == "" and "raw weights of all's jobs" in rows["no_ema"]["notes"]
    table = (tmp_path / "results.md").read_text()
    assert "| no_ema | 2/2 |" in table and "for 4 jobs" in table


def test_a_configuration_the_sweep_trained_keeps_its_own_jobs():
    runs = [
        Run(PROJECT_ROOT / f"{v}-1", "completed", 1, {"variant": v}, {"test_acc": 0.98, "test_acc_raw": 0.97})
        for v in ("all", "no_ema")
    ]
    assert add_raw_weights_runs(runs, ["variant"], {"no_ema": "all"}) == runs


def test_a_mapping_that_names_no_configuration_of_the_sweep_is_one_line():
    runs = [Run(PROJECT_ROOT / "a", "completed", 1, {"lr": "0.1", "variant": "all"}, {"test_acc": 0.9})]
    with pytest.raises(
        ConfigError, match=r"report.raw_weights_of: no_ema: all does not name .* keys: lr, variant"
    ):
        add_raw_weights_runs(runs, ["lr", "variant"], {"no_ema": "all"})
    with pytest.raises(ConfigError, match=r"no_ema: al: no job of this sweep ran al; name a configuration"):
        add_raw_weights_runs(runs, ["variant"], {"no_ema": "al"})
    both = add_raw_weights_runs(runs, ["lr", "variant"], {"variant=no_ema": "variant=all"})
    assert [r.overrides["variant"] for r in both] == ["all", "no_ema"]


def test_a_source_that_recorded_no_raw_weights_is_a_failed_seed_saying_so():
    source = Run(PROJECT_ROOT / "0_variant=no_ema", "completed", 3, {"variant": "x"}, {"test_acc": 0.9})
    read = raw_weights_record(source, {"variant": "no_ema"}, "x")
    assert read.status == "failed" and "no raw-weights test accuracy" in read.error and read.seed == 3


accuracy = st.floats(0, 1, allow_nan=False)


@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "step": st.integers(0, 10**5),
                "val_acc_raw": accuracy,
                "val_acc_ema": accuracy,
                "val_loss": accuracy,
            }
        ),
        max_size=8,
    ),
    accuracy,
    accuracy,
    st.sampled_from(["completed", "diverged", "failed"]),
)
def test_what_is_read_describes_the_raw_weights_only(history, raw, ema, status):
    metrics = {
        "status": status,
        "weights": "ema",
        "test_acc": ema,
        "test_acc_raw": raw,
        "test_acc_ema": ema,
        "val_acc_raw": raw,
        "val_acc_ema": ema,
        "val_loss": 0.1,
        "test_loss": 0.2,
        "history": history,
        "wall_time_s": 100.0,
    }
    read = raw_weights_record(
        Run(PROJECT_ROOT / "0_all", status, 1, {"variant": "all"}, metrics), {"variant": "no_ema"}, "all"
    )
    assert read.overrides["variant"] == "no_ema" and read.metrics["raw_weights_of"] == "all"
    if status != "completed":
        assert read.status == status  # a diverged or failed source is a diverged or failed seed here
        return
    described = [key for record in [read.metrics, *read.metrics["history"]] for key in record]
    assert not [key for key in described if key.endswith(("_ema", "_loss"))]
    assert (
        read.metrics["test_acc"] == raw
        and read.metrics["weights"] == "raw"
        and read.metrics["wall_time_s"] is None
    )
    assert read.metrics["best_val_acc"] == max((r["val_acc_raw"] for r in history), default=None)
