"""Per-variant rows (mean/std/min/max over seeds) and the val/test correlation."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from mnist_lightning.study.runs import Run
from mnist_lightning.study.stats import mean, pearson, std

COLUMNS = [
    "variant", "n_seeds", "completed", "diverged", "failed", "test_acc_mean", "test_acc_std", "test_acc_min",
    "test_acc_max", "best_val_acc_mean", "steps", "wall_time_s_mean", "weights", "notes",
]


def group_by_variant(runs: list[Run]) -> dict[str, list[Run]]:
    """Runs per variant, in the order the sweep ran them (the sweep's own order of variants)."""
    groups: dict[str, list[Run]] = defaultdict(list)
    for run in runs:
        groups[run.variant].append(run)
    return dict(groups)


def status_label(row: dict[str, Any]) -> str:
    """What a row without a test accuracy shows instead."""
    return "diverged" if row["diverged"] else "failed"


def variant_row(variant: str, runs: list[Run]) -> dict[str, Any]:
    """Test accuracy of the weights each run reports (EMA when on, raw when off) over its seeds."""
    done = [r for r in runs if r.status == "completed" and r.metrics.get("test_acc") is not None]
    diverged = [r for r in runs if r.status == "diverged"]
    failed = [r for r in runs if r.status == "failed"]
    tests = [r.metrics["test_acc"] for r in done]
    vals = [r.metrics["best_val_acc"] for r in done if r.metrics.get("best_val_acc") is not None]
    notes = [f"seed {r.seed} diverged at step {r.metrics.get('diverged_at_step')}" for r in diverged]
    notes += [f"seed {r.seed} failed: {r.error}" for r in failed]
    return {
        "variant": variant,
        "n_seeds": len(runs),
        "completed": len(done),
        "diverged": len(diverged),
        "failed": len(failed),
        "test_acc_mean": mean(tests) if tests else None,
        "test_acc_std": std(tests) if tests else None,
        "test_acc_min": min(tests) if tests else None,
        "test_acc_max": max(tests) if tests else None,
        "best_val_acc_mean": mean(vals) if vals else None,
        "steps": max((r.metrics.get("step", 0) for r in done), default=None),
        "wall_time_s_mean": mean([r.metrics["wall_time_s"] for r in done]) if done else None,
        "weights": "/".join(sorted({r.weights for r in done})) or None,
        "notes": "; ".join(notes),
    }


def checkpoint_pairs(runs: list[Run], include_step0: bool = True) -> list[tuple[float, float, str]]:
    """(validation accuracy, test accuracy, variant) at every validation of every run with track_test."""
    pairs = []
    for run in runs:
        w = run.weights
        for record in run.history:
            if not include_step0 and record.get("step") == 0:
                continue
            val, test = record.get(f"val_acc_{w}"), record.get(f"tracked_test_acc_{w}")
            if val is not None and test is not None:
                pairs.append((val, test, run.variant))
    return pairs


def correlations(runs: list[Run]) -> dict[str, Any]:
    """Pearson r between validation and test accuracy over the checkpoints, with and without step 0."""
    result: dict[str, Any] = {}
    for label, include in (("with_step0", True), ("without_step0", False)):
        pairs = checkpoint_pairs(runs, include)
        result[label] = {"r": pearson([p[0] for p in pairs], [p[1] for p in pairs]), "n_checkpoints": len(pairs)}
    return result
