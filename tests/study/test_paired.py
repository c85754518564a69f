"""The study's paired design, its verdicts and the tutorial's claims, on runs written by hand."""

import json
import math
import subprocess
import sys

import lightning as L
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf
from PIL import Image
from scipy import stats as scipy_stats

from mnist_lightning.study.aggregate import aggregate
from mnist_lightning.study.claims import claims_markdown
from mnist_lightning.study.report import build_report
from mnist_lightning.study.runs import Run
from mnist_lightning.study.stats import paired_interval, seeds_to_decide, t_quantile, verdict
from mnist_lightning.training.run import build
from tests.helpers import PROJECT_ROOT, compose_train, small_run_overrides

accuracies = st.floats(min_value=0.9, max_value=1.0, allow_nan=False)


@given(st.lists(st.tuples(accuracies, accuracies), min_size=2, max_size=12))
def test_the_paired_interval_is_the_one_sample_t_interval_of_the_differences(pairs):
    differences = [a - b for a, b in pairs]
    diff, low, high = paired_interval(differences)
    assert diff == pytest.approx(sum(differences) / len(differences), abs=1e-12)
    if len(set(differences)) > 1 and max(differences) - min(differences) > 1e-9:
        ci = scipy_stats.ttest_rel([a for a, _ in pairs], [b for _, b in pairs]).confidence_interval(0.95)
        assert (low, high) == pytest.approx((ci.low, ci.high), abs=1e-9)
    assert low <= diff <= high
    assert paired_interval(differences[:1]) is None


@given(st.floats(-0.05, 0.05), st.floats(0, 0.05), st.floats(0, 0.01))
def test_a_verdict_is_what_its_interval_says(low, width, margin):
    high = low + width
    said = verdict(low, high, margin)
    within = -margin <= low and high <= margin
    excludes_zero = low > 0 or high < 0
    assert said == ("matters little" if within else "matters" if excludes_zero else "cannot tell")


@settings(deadline=None)
@given(st.floats(-0.01, 0.01), st.floats(1e-5, 0.01), st.floats(1e-4, 0.005))
def test_seeds_to_decide_is_the_first_count_whose_interval_would_decide(diff, spread, margin):
    n = seeds_to_decide(diff, spread, margin)
    room = max(abs(diff), margin - abs(diff))
    if n is None:
        return
    half = lambda k: t_quantile(0.95, k - 1) * spread / math.sqrt(k)
    assert half(n) < room and (n == 2 or half(n - 1) >= room)
    assert verdict(diff - half(n), diff + half(n), margin) != "cannot tell" or half(n) >= room


def run(variant, seed, acc, status="completed"):
    metrics = {"status": status, "test_acc": acc, "wall_time_s": 1.0, "compute_dtype": "fp32", "seed": seed}
    return Run(PROJECT_ROOT / f"{variant}-{seed}", status, seed, {"variant": variant}, metrics)


# Seeds differ a lot from each other, but no_ema is always 0.0002 below all on the same seed and no_l2
# 0.0030 below: only a paired design sees that, and only the paired intervals are that narrow.
SEED_EFFECT = [0.000, 0.004, -0.003, 0.002, -0.001, 0.003, -0.004, 0.001, 0.0, -0.002]
JITTER = [1e-5, -1e-5, 2e-5, 0, -2e-5, 1e-5, 0, -1e-5, 2e-5, -2e-5]


def mnist_like(costs):
    return [
        run(variant, seed, 0.984 + effect - cost + (JITTER[seed - 1] if variant != "all" else 0))
        for variant, cost in costs.items()
        for seed, effect in enumerate(SEED_EFFECT, start=1)
    ]


def test_paired_differences_see_what_seed_to_seed_spread_hides():
    rows, _ = aggregate(mnist_like({"all": 0, "no_ema": 0.0002, "no_l2": 0.003}), ["variant"])
    by = {row["label"]: row for row in rows}
    assert by["all"]["design"] is None and by["no_ema"]["paired_n"] == 10
    ema, l2 = by["no_ema"], by["no_l2"]
    assert ema["paired_diff"] == pytest.approx(-0.0002, abs=1e-6)
    assert ema["paired_ci_high"] - ema["paired_ci_low"] < 0.0001  # paired: the seeds' spread cancels
    assert ema["diff_ci_high"] - ema["diff_ci_low"] > 0.004  # unpaired: it does not
    assert ema["design"] == "paired" and ema["verdict"] == "matters little"
    assert l2["verdict"] == "matters" and l2["significant"]
    text = claims_markdown(rows, 0.001)
    assert "Claim 1 (EMA and decay matter little on MNIST): cannot tell: no_lr_decay needs 2" in text
    assert "Claim 3 (regularization's effect is the more marked): cannot tell" in text


def test_the_three_claims_judged_on_two_datasets():
    mnist = mnist_like({"all": 0, "no_l2": 0.003, "no_lr_decay": 0.0001, "no_ema": 0.0002})
    harder = mnist_like({"all": 0, "no_l2": 0.004, "no_lr_decay": 0.002, "no_ema": 0.0001})
    rows, _ = aggregate(mnist, ["variant"])
    harder_rows, _ = aggregate(harder, ["variant"])
    text = claims_markdown(rows, 0.001, harder_rows, "fashion")
    assert "Claim 1 (EMA and decay matter little on MNIST): **holds**" in text
    assert "Claim 2 (they matter more on a harder problem): **holds for one of the two**" in text
    assert "the learning-rate decay costs +0.20 points" in text and "(more)" in text and "(less)" in text
    assert "Claim 3 (regularization's effect is the more marked): **holds**" in text


def write_job(folder, variant, seed, acc):
    (folder / ".hydra").mkdir(parents=True)
    OmegaConf.save(OmegaConf.create({"seed": seed}), folder / ".hydra" / "config.yaml")
    OmegaConf.save(
        OmegaConf.create([f"variant={variant}", f"seed={seed}"]), folder / ".hydra" / "overrides.yaml"
    )
    metrics = {"status": "completed", "test_acc": acc, "wall_time_s": 1.0, "seed": seed, "variant": variant}
    (folder / "metrics.json").write_text(json.dumps(metrics))


def test_report_py_adds_the_tf1_column_and_leaves_an_existing_report_alone(tmp_path):
    sweep = tmp_path / "sweep"
    for number, r in enumerate(mnist_like({"all": 0, "no_hidden": 0.06, "no_activation": 0})):
        write_job(
            sweep / f"{number}_seed={r.seed},variant={r.overrides['variant']}",
            r.overrides["variant"],
            r.seed,
            r.metrics["test_acc"],
        )
    summary = tmp_path / "summary.jsonl"
    summary.write_text(
        "".join(
            json.dumps({"variant": "all", "seed": s, "test_ema": 0.9843 + s * 1e-4, "diverged": False}) + "\n"
            for s in (1, 2, 3)
        )
        + json.dumps({"variant": "no_activation", "seed": 1, "test_ema": 0.098, "diverged": True})
        + "\n"
    )
    report = build_report(sweep, tf1=summary)
    assert "| all | 10/10 | 0.9840 ± 0.0026 | 3/3 | 0.9845 ± 0.0001 | -0.0005 [" in report["text"]
    assert "| no_hidden | 10/10 |" in report["text"] and "| 0/0 | — | — |" in report["text"]
    assert (
        "The jobs did not record their dtype and CPU" in report["text"] and "unrecorded" not in report["text"]
    )
    (sweep / "results.md").write_text("committed\n")
    script = [sys.executable, str(PROJECT_ROOT / "src" / "report.py"), str(sweep), "--tf1", str(summary)]
    printed = subprocess.run(script, check=False, capture_output=True, text=True, cwd=PROJECT_ROOT)
    assert printed.returncode == 0 and "| all | 10/10 |" in printed.stdout
    assert (sweep / "results.md").read_text() == "committed\n" and "--rewrite replaces it" in printed.stderr
    rewritten = subprocess.run(
        [*script, "--rewrite"], check=False, capture_output=True, text=True, cwd=PROJECT_ROOT
    )
    assert rewritten.returncode == 0 and (sweep / "results.md").read_text().startswith("| variant |")
    with Image.open(sweep / "differences.png") as figure:  # the paired differences against the margin
        assert figure.format == "PNG" and figure.size[0] > 400
    bad = subprocess.run(
        [*script[:3], "--tf1", str(tmp_path / "none.jsonl")],
        check=False,
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
    )
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0 and "no such file" in bad.stderr


def initial_state(variant, seed, synthetic_root, tmp_path):
    small = [o for o in small_run_overrides(synthetic_root, tmp_path / variant) if "lr_schedule" not in o]
    cfg = compose_train([*small, f"variant={variant}", f"seed={seed}"])
    L.seed_everything(cfg.seed, workers=True, verbose=False)  # as train() does, then build
    datamodule, module, _ = build(cfg)
    datamodule.setup("fit")
    batches = [batch[1].clone() for batch, _ in zip(datamodule.train_dataloader(), range(3))]
    return {k: v.clone() for k, v in module.net.state_dict().items()}, batches


@pytest.mark.parametrize("variant", ["no_l2", "no_lr_decay", "no_ema", "no_activation"])
def test_seed_s_gives_every_variant_the_same_initial_weights_and_batches(variant, synthetic_root, tmp_path):
    weights, batches = initial_state("all", 3, synthetic_root, tmp_path)
    other_weights, other_batches = initial_state(variant, 3, synthetic_root, tmp_path)
    assert weights.keys() == other_weights.keys()
    assert all(torch.equal(weights[k], other_weights[k]) for k in weights)
    assert all(torch.equal(a, b) for a, b in zip(batches, other_batches))
    different_seed, _ = initial_state("all", 4, synthetic_root, tmp_path)
    assert not torch.equal(weights["layer1.weight"], different_seed["layer1.weight"])


COMMITTED = sorted(p.parent for p in (PROJECT_ROOT / "outputs").glob("study-2026-12-03/*/multirun.yaml"))


@pytest.mark.parametrize("study", COMMITTED, ids=[p.name for p in COMMITTED])
def test_a_committed_study_recomputes_from_its_job_files(study):
    import csv

    with open(study / "results.csv") as handle:
        committed = list(csv.DictReader(handle))
    rows = build_report(study)["rows"]
    assert [row["label"] for row in rows] == [row["label"] for row in committed]
    for ours, theirs in zip(rows, committed):
        for column in (
            "test_acc_mean",
            "test_acc_std",
            "paired_diff",
            "paired_ci_low",
            "paired_ci_high",
            "diff_ci_low",
        ):
            if theirs[column]:
                assert ours[column] == pytest.approx(float(theirs[column]), abs=1e-12), (
                    ours["label"],
                    column,
                )
        assert str(ours["verdict"] or "") == theirs["verdict"] and int(theirs["n_seeds"]) >= 10
