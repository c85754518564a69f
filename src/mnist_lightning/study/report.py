"""Write a sweep's report into its folder: results.csv/.md, correlation.json and the figures."""

from __future__ import annotations

import csv
import json
import logging
import math
from pathlib import Path
from typing import Any

from mnist_lightning.study.aggregate import COLUMNS, correlations, group_by_variant, status_label, variant_row
from mnist_lightning.study.plots import plot_comparison, plot_curves, plot_val_vs_test
from mnist_lightning.study.runs import find_runs

log = logging.getLogger(__name__)


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _nan_to_none(value: Any) -> Any:
    """Strict JSON has no NaN (a constant accuracy has no correlation): write null."""
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    return None if isinstance(value, float) and math.isnan(value) else value


def markdown_table(rows: list[dict[str, Any]]) -> str:
    header = "| variant | seeds | test acc mean ± std | min | max | best val acc | steps | wall time (s) | notes |"
    lines = [header, "|---" * (header.count("|") - 1) + "|"]
    for row in rows:
        if row["test_acc_mean"] is None:
            acc = status_label(row)
        else:
            acc = f"{row['test_acc_mean']:.4f} ± {row['test_acc_std']:.4f}"
        seeds = f"{row['completed']}/{row['n_seeds']}"
        lines.append(
            f"| {row['variant']} | {seeds} | {acc} | {_fmt(row['test_acc_min'])} | {_fmt(row['test_acc_max'])} | "
            f"{_fmt(row['best_val_acc_mean'])} | {_fmt(row['steps'])} | {_fmt(row['wall_time_s_mean'], 0)} | "
            f"{row['notes'] or ''} |"
        )
    return "\n".join(lines) + "\n"


def write_report(sweep: str | Path) -> dict[str, Any]:
    """Aggregate every job under `sweep` and write the report files next to them."""
    sweep = Path(sweep)
    runs = find_runs(sweep)
    if not runs:
        raise FileNotFoundError(f"no job folders (with .hydra/config.yaml) under {sweep}")
    groups = group_by_variant(runs)
    rows = [variant_row(variant, group) for variant, group in groups.items()]
    with open(sweep / "results.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    correlation = correlations(runs)
    correlation["per_variant"] = {v: correlations(g)["without_step0"] for v, g in groups.items()}
    (sweep / "correlation.json").write_text(json.dumps(_nan_to_none(correlation), indent=2) + "\n")
    r = correlation["without_step0"]["r"]
    r0 = correlation["with_step0"]["r"]
    text = markdown_table(rows)
    if correlation["with_step0"]["n_checkpoints"]:
        text += (
            f"\nPearson correlation of validation and test accuracy over "
            f"{correlation['without_step0']['n_checkpoints']} checkpoints: r = {r:.5f} "
            f"(with step 0: r = {r0:.5f}, {correlation['with_step0']['n_checkpoints']} points).\n"
        )
    (sweep / "results.md").write_text(text)
    plot_comparison(rows, sweep / "comparison.png")
    plot_curves(groups, sweep / "curves.png")
    if correlation["with_step0"]["n_checkpoints"]:  # needs runs made with track_test=true
        plot_val_vs_test(runs, correlation, sweep / "val_vs_test.png")
    failed = [run for run in runs if run.status == "failed"]
    for run in failed:
        log.warning("Job %s failed: %s", run.folder.name, run.error)
    log.info("Report for %d jobs (%d failed) written to %s", len(runs), len(failed), sweep)
    return {"rows": rows, "correlation": correlation, "runs": runs}
