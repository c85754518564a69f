"""Write a sweep's report into its folder: results.csv/.md, the figures that fit the sweep,
correlation.json, and for Optuna searches the trials table and the best configuration."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

from mnist_lightning.hydra_setup import short_value
from mnist_lightning.io import write_csv, write_json, write_text
from mnist_lightning.study.aggregate import (
    FIGURE_COLUMNS,
    aggregate,
    correlations,
    mixed_machines_note,
    status_label,
)
from mnist_lightning.study.plots import plot_bars, plot_by_value, plot_curves, plot_heatmap, plot_val_vs_test
from mnist_lightning.study.runs import Run, configuration_keys, find_runs
from mnist_lightning.study.search import is_search, write_search_report

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


def _difference(row: dict[str, Any], reference: dict[str, Any] | None) -> str:
    if row is reference:
        return "reference"
    if row["diff_vs_reference"] is None:
        return "—"
    text = f"{row['diff_vs_reference']:+.4f}"
    if row["diff_ci_low"] is None:
        return f"{text} (1 seed: no interval)"
    text += f" [{row['diff_ci_low']:+.4f}, {row['diff_ci_high']:+.4f}]"
    return f"**{text}**" if row["significant"] else text


def _is_numeric(rows: list[dict[str, Any]], key: str) -> bool:
    try:
        [float(row[key]) for row in rows]
    except (TypeError, ValueError):
        return False
    return True


def short_label(row: dict[str, Any], keys: list[str]) -> str:
    """A configuration's settings with searched values to 4 significant digits."""
    return ", ".join(f"{k}={short_value(str(row[k]))}" for k in keys) if len(keys) > 1 else row["label"]


def markdown_table(rows: list[dict[str, Any]], keys: list[str], reference: dict[str, Any] | None) -> str:
    columns = ["variant"] if keys == ["variant"] else (keys or ["configuration"])
    # one key: the reference by its value (lr=0.1); several: "reference", its settings listed once below
    ref = short_label(reference, keys) if reference and len(keys) <= 1 else "reference"
    header = (
        f"| {' | '.join(columns)} | seeds | test acc mean ± std | min | max | best val acc | "
        f"Δ test acc vs {ref} [95% CI] | steps | wall time (s) | notes |"
    )
    lines = [header, "|---" * (header.count("|") - 1) + "|"]
    for row in rows:
        acc = (
            status_label(row)
            if row["test_acc_mean"] is None
            else f"{row['test_acc_mean']:.4f} ± {row['test_acc_std']:.4f}"
        )
        values = (
            [row["label"]] if columns == ["configuration"] else [short_value(str(row[k])) for k in columns]
        )
        lines.append(
            f"| {' | '.join(values)} | {row['completed']}/{row['n_seeds']} | {acc} | {_fmt(row['test_acc_min'])} | "
            f"{_fmt(row['test_acc_max'])} | {_fmt(row['best_val_acc_mean'])} | {_difference(row, reference)} | "
            f"{_fmt(row['steps'])} | {_fmt(row['wall_time_s_mean'], 0)} | {row['notes'] or ''} |"
        )
    lines.append("")
    if reference and ref == "reference":
        lines += [f"Reference: {short_label(reference, keys)}.", ""]
    lines.append(
        f"Δ: mean test accuracy minus {ref}'s, with a 95% Welch-t confidence interval over the seeds; "
        "**bold**: the interval excludes 0 (a real difference at this number of seeds). Diverged or failed "
        "seeds are listed in notes and never averaged in."
    )
    return "\n".join(lines) + "\n"


def write_figures(sweep: Path, runs: list[Run], rows: list[dict[str, Any]], keys: list[str]) -> list[str]:
    """The figures that fit the sweep; returns one line per figure: written, or why not."""
    notes = []
    if not any(row["test_acc_mean"] is not None or row["diverged"] for row in rows):
        notes.append("No accuracy figure: no configuration finished (all failed).")
    elif len(keys) == 1 and _is_numeric(rows, keys[0]) and len(rows) > 1:
        name = f"accuracy_vs_{keys[0].replace('.', '_')}.png"
        notes.append(f"{plot_by_value(rows, keys[0], sweep / name).name}: test accuracy against {keys[0]}")
    elif len(keys) == 2:
        notes.append(
            f"{plot_heatmap(rows, keys, sweep / 'heatmap.png').name}: mean test accuracy of each ({keys[0]}, {keys[1]})"
        )
    else:
        title = (
            "MNIST MLP: which optimization matters"
            if keys == ["variant"]
            else "Test accuracy per configuration"
        )
        notes.append(
            f"{plot_bars(rows, sweep / 'comparison.png', title).name}: test accuracy per configuration"
        )
    curves = plot_curves(runs, keys, sweep / "curves.png")
    notes.append(
        f"{curves.name}: validation accuracy during training"
        if curves
        else "No curves figure: no job recorded a validation."
    )
    return notes


def write_report(sweep: str | Path, reference: str | None = None) -> dict[str, Any]:
    """Aggregate every job under `sweep` by configuration and write the report files next to them."""
    sweep = Path(sweep)
    runs = find_runs(sweep)
    if not runs:
        raise FileNotFoundError(f"no job folders (with .hydra/config.yaml) under {sweep}")
    keys = configuration_keys(sweep, runs)
    rows, ref = aggregate(runs, keys, reference)
    write_csv(sweep / "results.csv", [*keys, *FIGURE_COLUMNS], rows)
    correlation = correlations(runs, keys)
    write_json(sweep / "correlation.json", _nan_to_none(correlation))
    text = markdown_table(rows, keys, ref)
    ran = sorted({(row["compute_dtype"], row["cpu"]) for row in rows if row["compute_dtype"]})
    mixed = mixed_machines_note(runs)
    text += f"\n{mixed}\n" if mixed else f"\nEvery job ran in {ran[0][0]} on {ran[0][1]}.\n" if ran else ""
    if correlation["with_step0"]["n_checkpoints"]:  # runs made with track_test=true
        plot_val_vs_test(runs, keys, correlation, sweep / "val_vs_test.png")
        text += (
            f"\nPearson correlation of validation and test accuracy over "
            f"{correlation['without_step0']['n_checkpoints']} checkpoints: r = {correlation['without_step0']['r']:.5f} "
            f"(with step 0: r = {correlation['with_step0']['r']:.5f}, {correlation['with_step0']['n_checkpoints']} points).\n"
        )
    text += "\nFigures:\n" + "".join(f"- {line}\n" for line in write_figures(sweep, runs, rows, keys))
    if is_search(sweep):
        text += "\n" + write_search_report(sweep, runs, keys)
    write_text(sweep / "results.md", text)
    failed = [run for run in runs if run.status == "failed"]
    for run in failed:
        log.warning("Job %s failed: %s", run.folder.name, run.error)
    log.info(
        "Report for %d jobs in %d configurations (%d failed) written to %s",
        len(runs),
        len(rows),
        len(failed),
        sweep,
    )
    return {"rows": rows, "keys": keys, "reference": ref, "correlation": correlation, "runs": runs}
