"""The study's figures: final accuracy per variant, validation curves, validation vs test.

Figures are drawn on `matplotlib.figure.Figure` objects (no pyplot, so no GUI backend is chosen
or changed by importing this module).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from mnist_lightning.study.aggregate import checkpoint_pairs, status_label
from mnist_lightning.study.runs import Run
from mnist_lightning.study.stats import mean, std


def _save(fig: Figure, ax: Axes, path: Path, xlabel: str, ylabel: str, title: str, legend: bool = True) -> Path:
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    if legend:
        ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


def plot_comparison(rows: list[dict[str, Any]], path: Path) -> Path:
    """Bar per variant: mean test accuracy, error bar = std over seeds; diverged/failed marked."""
    fig = Figure(figsize=(8, 4.5))
    ax = fig.subplots()
    names = [row["variant"] for row in rows]
    means = [row["test_acc_mean"] or 0.0 for row in rows]
    errors = [row["test_acc_std"] or 0.0 for row in rows]
    bars = ax.bar(names, means, yerr=errors, capsize=4, color="#4c72b0")
    valid = [m for m in means if m > 0]
    low = max(0.0, min(valid) - 0.02) if valid else 0.0
    for bar, row in zip(bars, rows):
        if row["test_acc_mean"] is None:
            bar.set_height(low + (1 - low) * 0.05)
            bar.set_hatch("//")
            bar.set_color("#c44e52")
            label = status_label(row)
        else:
            label = f"{row['test_acc_mean']:.4f}"
            if row["diverged"] or row["failed"]:
                label += f"\n({row['diverged'] + row['failed']} of {row['n_seeds']} lost)"
        ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height(), label, ha="center", va="bottom", fontsize=8)
    ax.set_ylim(low, 1.0)
    ax.tick_params(axis="x", rotation=20)
    title = "MNIST MLP: which optimization matters"
    return _save(fig, ax, path, "", "test accuracy (mean ± std over seeds)", title, legend=False)


def plot_curves(groups: dict[str, list[Run]], path: Path) -> Path:
    """Validation accuracy vs step per variant: mean over seeds, band = ± one std."""
    fig = Figure(figsize=(8, 4.5))
    ax = fig.subplots()
    lows = []
    for variant, runs in groups.items():
        by_step: dict[int, list[float]] = defaultdict(list)
        for run in runs:
            for record in run.history:
                value = record.get(f"val_acc_{run.weights}")
                if value is not None and record["step"] > 0:
                    by_step[record["step"]].append(value)
        if not by_step:
            continue
        steps = sorted(by_step)
        means = [mean(by_step[s]) for s in steps]
        spread = [std(by_step[s]) for s in steps]
        ax.plot(steps, means, label=variant)
        ax.fill_between(steps, [m - s for m, s in zip(means, spread)], [m + s for m, s in zip(means, spread)], alpha=0.2)
        lows.append(min(means))
    ax.set_ylim(max(0.0, min(lows, default=0.0) - 0.005), 1.0)
    title = "Validation accuracy during training (mean ± std over seeds)"
    return _save(fig, ax, path, "training step", "validation accuracy", title)


def plot_val_vs_test(runs: list[Run], correlation: dict[str, Any], path: Path) -> Path:
    """Validation vs test accuracy at every checkpoint (step 0 excluded), coloured by variant."""
    pairs = checkpoint_pairs(runs, include_step0=False)
    fig = Figure(figsize=(5.5, 5.5))
    ax = fig.subplots()
    for variant in dict.fromkeys(p[2] for p in pairs):
        xs = [p[0] for p in pairs if p[2] == variant]
        ys = [p[1] for p in pairs if p[2] == variant]
        ax.scatter(xs, ys, s=10, label=variant, alpha=0.7)
    if pairs:
        lo = min(min(p[0] for p in pairs), min(p[1] for p in pairs))
        ax.plot([lo, 1], [lo, 1], color="grey", lw=0.8, ls="--")
    r = correlation["without_step0"]["r"]
    r0 = correlation["with_step0"]["r"]
    title = f"Pearson r = {r:.4f} (with step 0: {r0:.5f})"
    return _save(fig, ax, path, "validation accuracy", "test accuracy", title)
