"""The sweep's figures, chosen by what was swept: accuracy vs a numeric value, bars for categories,
a heat map for two keys; validation curves per configuration; validation vs test; Optuna's history.

Figures are drawn on `matplotlib.figure.Figure` objects (no pyplot, so no GUI backend is chosen
or changed by importing this module). Diverged and failed configurations are drawn as such.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from mnist_lightning.study.aggregate import checkpoint_pairs, configuration_of, label_of, status_label
from mnist_lightning.study.runs import Run
from mnist_lightning.study.stats import mean, std

LOST = "#c44e52"
ACCURACY = "test accuracy (mean ± std over seeds)"


def _save(
    fig: Figure, ax: Axes, path: Path, xlabel: str, ylabel: str, title: str, legend: bool = True
) -> Path:
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    if legend and ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


def _low(rows: list[dict[str, Any]]) -> float:
    valid = [
        row["test_acc_mean"] - (row["test_acc_std"] or 0) for row in rows if row["test_acc_mean"] is not None
    ]
    return max(0.0, min(valid) - 0.005) if valid else 0.0


def _lost_note(row: dict[str, Any]) -> str:
    lost = row["diverged"] + row["failed"]
    return f"\n({lost} of {row['n_seeds']} lost)" if lost and row["test_acc_mean"] is not None else ""


def plot_bars(rows: list[dict[str, Any]], path: Path, title: str) -> Path:
    """Bar per configuration: mean test accuracy, error bar = std over seeds; diverged/failed hatched."""
    fig = Figure(figsize=(max(8, 0.9 * len(rows)), 4.5))
    ax = fig.subplots()
    low = _low(rows)
    means = [
        row["test_acc_mean"] if row["test_acc_mean"] is not None else low + (1 - low) * 0.05 for row in rows
    ]
    errors = [row["test_acc_std"] or 0.0 for row in rows]
    bars = ax.bar([row["label"] for row in rows], means, yerr=errors, capsize=4, color="#4c72b0")
    for bar, row in zip(bars, rows):
        if row["test_acc_mean"] is None:
            bar.set_hatch("//")
            bar.set_color(LOST)
            label = status_label(row)
        else:
            label = f"{row['test_acc_mean']:.4f}" + _lost_note(row)
        ax.text(
            bar.get_x() + bar.get_width() / 2, bar.get_height(), label, ha="center", va="bottom", fontsize=8
        )
    ax.set_ylim(low, 1.0)
    ax.tick_params(axis="x", rotation=20)
    return _save(fig, ax, path, "", ACCURACY, title, legend=False)


def plot_differences(rows: list[dict[str, Any]], margin: float, path: Path, title: str) -> Path | None:
    """Each configuration's paired difference to the reference with its 95% interval, in accuracy points,
    against the ±margin band the verdicts use; None when no row has a paired interval."""
    shown = [row for row in rows if row.get("paired_ci_low") is not None]
    if not shown:
        return None
    fig = Figure(figsize=(7, 0.6 * len(shown) + 1.6))
    ax = fig.subplots()
    points = [
        tuple(100 * row[k] for k in ("paired_diff", "paired_ci_low", "paired_ci_high")) for row in shown
    ]
    near = [max(abs(low), abs(high)) for _, low, high in points if max(abs(low), abs(high)) <= 1.0]
    edge = 1.2 * max([0.5, 2 * 100 * margin, *near])  # far rows (e.g. no hidden layer) sit at the edge
    for y, (row, (diff, low, high)) in enumerate(zip(shown, points)):
        colour = {"matters": LOST, "matters little": "#55a868"}.get(row["verdict"], "#4c72b0")
        if abs(diff) > edge:
            side = edge if diff > 0 else -edge
            ax.plot(side, y, marker=">" if diff > 0 else "<", color=colour, markersize=9)
            ax.text(
                side,
                y + 0.25,
                f"{diff:+.2f} [{low:+.2f}, {high:+.2f}] {row['verdict']}",
                fontsize=7,
                color=colour,
                ha="right" if diff > 0 else "left",
            )
            continue
        ax.errorbar(diff, y, xerr=[[diff - low], [high - diff]], fmt="o", color=colour, capsize=4)
        ax.text(high, y + 0.25, f" {row['verdict']}", fontsize=7, color=colour)
    ax.axvspan(-100 * margin, 100 * margin, color="#55a868", alpha=0.12, label=f"±{100 * margin:.2f} points")
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlim(-edge * 1.05, edge * 1.05)
    ax.set_yticks(range(len(shown)), [row["label"] for row in shown])
    ax.invert_yaxis()
    return _save(
        fig, ax, path, "test accuracy difference to the reference (points), paired 95% CI", "", title
    )


def plot_by_value(rows: list[dict[str, Any]], key: str, path: Path) -> Path:
    """Final test accuracy against a numeric swept value; log x-axis when the values span more than 10x."""
    fig = Figure(figsize=(7, 4.5))
    ax = fig.subplots()
    values = [float(row[key]) for row in rows]
    done = [(v, row) for v, row in zip(values, rows) if row["test_acc_mean"] is not None]
    low = _low(rows)
    if done:
        ax.errorbar(
            [v for v, _ in done],
            [r["test_acc_mean"] for _, r in done],
            yerr=[r["test_acc_std"] or 0 for _, r in done],
            marker="o",
            capsize=4,
            color="#4c72b0",
            label="completed seeds",
        )
        for v, r in done:
            ax.annotate(
                f"{r['test_acc_mean']:.4f}" + _lost_note(r),
                (v, r["test_acc_mean"]),
                textcoords="offset points",
                xytext=(0, 8),
                ha="center",
                fontsize=7,
            )
    for v, row in zip(values, rows):
        if row["test_acc_mean"] is None:
            ax.scatter([v], [low + 0.002], marker="x", s=80, color=LOST, label=status_label(row))
            ax.annotate(
                status_label(row),
                (v, low + 0.002),
                textcoords="offset points",
                xytext=(0, 8),
                ha="center",
                fontsize=8,
                color=LOST,
            )
    positive = [v for v in values if v > 0]
    if positive and len(positive) == len(values) and max(positive) / min(positive) > 10:
        ax.set_xscale("log")
        ax.minorticks_off()  # the swept values label the axis; log minor labels would overlap them
    ax.set_xticks(values, [row[key] for row in rows])
    ax.set_ylim(low, 1.0)
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    ax.legend(unique.values(), unique.keys(), fontsize=7)
    return _save(fig, ax, path, key, ACCURACY, f"Test accuracy against {key}", legend=False)


def plot_heatmap(rows: list[dict[str, Any]], keys: list[str], path: Path) -> Path:
    """Two swept keys: the mean test accuracy of each pair of values; diverged/failed cells named."""
    first = list(dict.fromkeys(row[keys[0]] for row in rows))
    second = list(dict.fromkeys(row[keys[1]] for row in rows))
    grid = [[float("nan")] * len(second) for _ in first]
    fig = Figure(figsize=(1.2 * len(second) + 3, 0.6 * len(first) + 2.5))
    ax = fig.subplots()
    cells = {(row[keys[0]], row[keys[1]]): row for row in rows}
    for i, a in enumerate(first):
        for j, b in enumerate(second):
            row = cells.get((a, b))
            if row is not None and row["test_acc_mean"] is not None:
                grid[i][j] = row["test_acc_mean"]
    image = ax.imshow(grid, cmap="viridis", aspect="auto")
    fig.colorbar(image, ax=ax, label="mean test accuracy")
    for i, a in enumerate(first):
        for j, b in enumerate(second):
            row = cells.get((a, b))
            text = (
                "—"
                if row is None
                else status_label(row)
                if row["test_acc_mean"] is None
                else f"{row['test_acc_mean']:.4f}"
            )
            ax.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                fontsize=8,
                color="white" if row and row["test_acc_mean"] else LOST,
            )
    ax.set_xticks(range(len(second)), second)
    ax.set_yticks(range(len(first)), first)
    ax.grid(False)
    fig.tight_layout()
    ax.set_xlabel(keys[1])
    ax.set_ylabel(keys[0])
    ax.set_title("Mean test accuracy over seeds", fontsize=10)
    fig.savefig(path, dpi=120)
    return path


def plot_curves(runs: list[Run], keys: list[str], path: Path) -> Path | None:
    """Validation accuracy vs step per configuration: mean over seeds, band = ± one std. None if no points."""
    series: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for run in runs:
        label = label_of(configuration_of(run, keys))
        for record in run.history:
            value = record.get(f"val_acc_{run.weights}")
            if value is not None and record["step"] > 0:
                series[label][record["step"]].append(value)
    if not series:
        return None
    fig = Figure(figsize=(8, 4.5))
    ax = fig.subplots()
    lows = []
    for label, by_step in series.items():
        steps = sorted(by_step)
        means = [mean(by_step[s]) for s in steps]
        spread = [std(by_step[s]) for s in steps]
        ax.plot(steps, means, label=label, marker="o" if len(steps) == 1 else None)
        ax.fill_between(
            steps, [m - s for m, s in zip(means, spread)], [m + s for m, s in zip(means, spread)], alpha=0.2
        )
        lows.append(min(means))
    ax.set_ylim(max(0.0, min(lows) - 0.005), 1.0)
    title = "Validation accuracy during training (mean ± std over seeds)"
    return _save(fig, ax, path, "training step", "validation accuracy", title)


def plot_val_vs_test(runs: list[Run], keys: list[str], correlation: dict[str, Any], path: Path) -> Path:
    """Validation vs test accuracy at every checkpoint (step 0 excluded), coloured by configuration."""
    pairs = checkpoint_pairs(runs, keys, include_step0=False)
    fig = Figure(figsize=(5.5, 5.5))
    ax = fig.subplots()
    for label in dict.fromkeys(p[2] for p in pairs):
        ax.scatter(
            [p[0] for p in pairs if p[2] == label],
            [p[1] for p in pairs if p[2] == label],
            s=10,
            label=label,
            alpha=0.7,
        )
    if pairs:
        lo = min(min(p[0] for p in pairs), min(p[1] for p in pairs))
        ax.plot([lo, 1], [lo, 1], color="grey", lw=0.8, ls="--")
    r, r0 = correlation["without_step0"]["r"], correlation["with_step0"]["r"]
    return _save(
        fig, ax, path, "validation accuracy", "test accuracy", f"Pearson r = {r:.4f} (with step 0: {r0:.5f})"
    )


def plot_optimization_history(trials: list[dict[str, Any]], path: Path) -> Path:
    """Each trial's validation accuracy and the best so far, in trial order (failed trials marked)."""
    fig = Figure(figsize=(7, 4.5))
    ax = fig.subplots()
    done = [(t["trial"], t["value"]) for t in trials if t["value"] is not None]
    ax.scatter([n for n, _ in done], [v for _, v in done], color="#4c72b0", label="trial")
    best, running = [], float("-inf")
    for n, v in done:
        running = max(running, v)
        best.append((n, running))
    ax.step([n for n, _ in best], [v for _, v in best], where="post", color="#dd8452", label="best so far")
    lost = [t["trial"] for t in trials if t["value"] is None]
    if lost and done:
        ax.scatter(
            lost, [min(v for _, v in done)] * len(lost), marker="x", color=LOST, label="diverged/failed"
        )
    return _save(fig, ax, path, "trial", "validation accuracy", "Optuna search: validation accuracy by trial")
