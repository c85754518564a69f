"""Write a sweep's report into its folder: results.csv/.md, the figures that fit the sweep,
correlation.json, and for Optuna searches the trials table and the best configuration."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from mnist_lightning.hydra_setup import short_value
from mnist_lightning.io import write_csv, write_json, write_text
from mnist_lightning.study.aggregate import (
    FIGURE_COLUMNS,
    MARGIN,
    aggregate,
    correlations,
    mixed_machines_note,
    status_label,
)
from mnist_lightning.study.claims import claims_markdown, is_comparison
from mnist_lightning.study.plots import (
    plot_bars,
    plot_by_value,
    plot_curves,
    plot_differences,
    plot_heatmap,
    plot_val_vs_test,
)
from mnist_lightning.study.raw_weights import add_raw_weights_runs, sweep_raw_weights_of
from mnist_lightning.study.runs import SWEEP_TIME_FILE, Run, configuration_keys, find_runs, sweep_config
from mnist_lightning.study.search import is_search, write_search_report
from mnist_lightning.study.tf1_column import read_tf1_runs, tf1_markdown, tf1_rows

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


def _interval(diff: float | None, low: float | None, high: float | None, bold: bool) -> str:
    if diff is None:
        return "—"
    if low is None:
        return f"{diff:+.4f} (1 seed: no interval)"
    text = f"{diff:+.4f} [{low:+.4f}, {high:+.4f}]"
    return f"**{text}**" if bold and not low <= 0 <= high else text


def _differences(row: dict[str, Any], reference: dict[str, Any] | None) -> list[str]:
    """The paired and the unpaired (Welch) difference to the reference, and the verdict."""
    if row is reference:
        return ["reference", "reference", ""]
    paired = row["design"] == "paired"
    verdict = row["verdict"] or "—"
    if row["seeds_to_decide"]:
        verdict += f" (≈{row['seeds_to_decide']} seeds would tell)"
    return [
        _interval(row["paired_diff"], row["paired_ci_low"], row["paired_ci_high"], paired),
        _interval(row["diff_vs_reference"], row["diff_ci_low"], row["diff_ci_high"], not paired),
        verdict,
    ]


def _is_numeric(rows: list[dict[str, Any]], key: str) -> bool:
    try:
        [float(row[key]) for row in rows]
    except (TypeError, ValueError):
        return False
    return True


def short_label(row: dict[str, Any], keys: list[str]) -> str:
    """A configuration's settings with searched values to 4 significant digits."""
    return ", ".join(f"{k}={short_value(str(row[k]))}" for k in keys) if len(keys) > 1 else row["label"]


def markdown_table(
    rows: list[dict[str, Any]], keys: list[str], reference: dict[str, Any] | None, margin: float = MARGIN
) -> str:
    columns = ["variant"] if keys == ["variant"] else (keys or ["configuration"])
    # one key: the reference by its value (lr=0.1); several: "reference", its settings listed once below
    ref = short_label(reference, keys) if reference and len(keys) <= 1 else "reference"
    header = (
        f"| {' | '.join(columns)} | seeds | test acc mean ± std | min | max | best val acc | "
        f"Δ vs {ref}, paired [95% CI] | Δ vs {ref}, unpaired [95% CI] | verdict | steps | wall time (s) | notes |"
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
            f"{_fmt(row['test_acc_max'])} | {_fmt(row['best_val_acc_mean'])} | "
            f"{' | '.join(_differences(row, reference))} | "
            f"{_fmt(row['steps'])} | {_fmt(row['wall_time_s_mean'], 0)} | {row['notes'] or ''} |"
        )
    lines.append("")
    if reference and ref == "reference":
        lines += [f"Reference: {short_label(reference, keys)}.", ""]
    designs = sorted({row["design"] for row in rows if row["design"]})
    lines.append(
        f"Δ: test accuracy minus {ref}'s. Paired: the mean of per-seed differences (seed s gives every "
        "configuration the same initial weights where the shapes agree, and the same batch order) with a "
        "paired-t 95% interval; unpaired: the difference of means with a Welch-t 95% interval. "
        f"The verdicts use the {' and '.join(designs) or 'paired'} design (**bold**: its interval excludes 0): "
        f"*matters* when the interval excludes 0 and reaches past ±{100 * margin:.2f} accuracy points, "
        f"*matters little* when it lies within ±{100 * margin:.2f} points (an equivalence test), else "
        "*cannot tell*, with the seeds that would tell if the observed mean and spread held. "
        "Diverged or failed seeds are listed in notes and never averaged in."
    )
    return "\n".join(lines) + "\n"


def what_ran_line(rows: list[dict[str, Any]], runs: list[Run]) -> str:
    """Where the jobs ran: one machine and dtype, several (with a warning), or not recorded."""
    mixed = mixed_machines_note(runs)
    if mixed:
        return mixed
    ran = sorted(
        {(row["compute_dtype"], row["cpu"]) for row in rows if row["compute_dtype"]}
        - {("unrecorded", "unrecorded")}
    )
    if not ran:
        return "The jobs did not record their dtype and CPU (they predate the run record)."
    return f"Every job ran in {ran[0][0]} on {ran[0][1]}."


def read_sweep(sweep: Path) -> tuple[list[Run], list[str], int]:
    """(the sweep's runs, with those its `report.raw_weights_of` reads from others; its configuration keys;
    how many jobs it trained)."""
    runs = find_runs(sweep)
    if not runs:
        raise FileNotFoundError(f"no job folders (with .hydra/config.yaml) under {sweep}")
    keys = configuration_keys(sweep, runs)
    derived = sweep_raw_weights_of(sweep_config(sweep, runs))
    return add_raw_weights_runs(runs, keys, derived), keys, len(runs)


def sweep_time_line(sweep: Path, jobs: int) -> str | None:
    """The sweep's own clock (sweep_time.json, written when the multirun ended)."""
    path = sweep / SWEEP_TIME_FILE
    if not path.is_file():
        return None
    try:
        t = json.loads(path.read_text())
        return (
            f"The sweep took {t['wall_s'] / 60:.1f} min for {jobs} jobs, {t['jobs_at_once']} at a time, "
            f"on {t['cpu']} ({t['started_at']} to {t['finished_at']}; {SWEEP_TIME_FILE})."
        )
    except (ValueError, KeyError, TypeError):
        return f"{SWEEP_TIME_FILE} is unreadable: the sweep's wall time is unknown."


def write_figures(
    sweep: Path, runs: list[Run], rows: list[dict[str, Any]], keys: list[str], margin: float = MARGIN
) -> list[str]:
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
    differences = plot_differences(rows, margin, sweep / "differences.png", "Paired differences and verdicts")
    if differences:
        notes.append(
            f"{differences.name}: each configuration's paired difference to the reference, with the margin"
        )
    curves = plot_curves(runs, keys, sweep / "curves.png")
    notes.append(
        f"{curves.name}: validation accuracy during training"
        if curves
        else "No curves figure: no job recorded a validation."
    )
    return notes


def build_report(
    sweep: str | Path,
    reference: str | None = None,
    margin: float = MARGIN,
    tf1: str | Path | None = None,
    harder: str | Path | None = None,
) -> dict[str, Any]:
    """Every job under `sweep` aggregated by configuration: rows, results.md's text; nothing written.
    `tf1`: the TF1 program's summary.jsonl for its column; `harder`: the same study on a harder dataset,
    for the tutorial's claim 2."""
    sweep = Path(sweep)
    runs, keys, trained = read_sweep(sweep)
    rows, ref = aggregate(runs, keys, reference, margin)
    correlation = correlations(runs, keys)
    text = markdown_table(rows, keys, ref, margin)
    text += f"\n{what_ran_line(rows, runs)}\n"
    timing = sweep_time_line(sweep, trained)
    text += f"\n{timing}\n" if timing else ""
    if tf1 is not None:
        text += "\n" + tf1_markdown(tf1_rows(rows, read_tf1_runs(tf1)), str(tf1))
    if keys == ["variant"] and is_comparison(rows):
        harder_rows = None
        if harder is not None:
            harder_runs, harder_keys, _ = read_sweep(Path(harder))
            harder_rows, _ = aggregate(harder_runs, harder_keys, None, margin)
        dataset = str(OmegaConf.select(sweep_config(sweep, runs), "data.name", default="mnist"))
        names = (
            [str(OmegaConf.select(sweep_config(Path(harder), harder_runs), "data.name", default=harder))]
            if harder
            else []
        )
        text += "\n" + claims_markdown(rows, margin, harder_rows, *names, dataset=dataset)
    if correlation["with_step0"]["n_checkpoints"]:  # runs made with track_test=true
        text += (
            f"\nPearson correlation of validation and test accuracy over "
            f"{correlation['without_step0']['n_checkpoints']} checkpoints: r = {correlation['without_step0']['r']:.5f} "
            f"(with step 0: r = {correlation['with_step0']['r']:.5f}, {correlation['with_step0']['n_checkpoints']} points).\n"
        )
    return {
        "rows": rows,
        "keys": keys,
        "reference": ref,
        "correlation": correlation,
        "runs": runs,
        "text": text,
    }


def write_report(sweep: str | Path, **options: Any) -> dict[str, Any]:
    """The report `build_report(sweep, **options)` makes, written next to the jobs (results.csv/.md, figures)."""
    sweep = Path(sweep)
    margin = options.get("margin", MARGIN)
    report = build_report(sweep, **options)
    rows, keys, runs, correlation = report["rows"], report["keys"], report["runs"], report["correlation"]
    write_csv(sweep / "results.csv", [*keys, *FIGURE_COLUMNS], rows)
    write_json(sweep / "correlation.json", _nan_to_none(correlation))
    if correlation["with_step0"]["n_checkpoints"]:
        plot_val_vs_test(runs, keys, correlation, sweep / "val_vs_test.png")
    text = (
        report["text"]
        + "\nFigures:\n"
        + "".join(f"- {line}\n" for line in write_figures(sweep, runs, rows, keys, margin))
    )
    if is_search(sweep):
        text += "\n" + write_search_report(sweep, runs, keys)
    report["text"] = text
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
    return report
