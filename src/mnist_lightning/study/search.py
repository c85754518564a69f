"""Optuna searches: the trials table, the best configuration as a ready-to-run command, its history
plot, and the best configuration re-trained with fresh seeds to measure its test accuracy once.

The search itself maximises validation accuracy only; test accuracy never steers it.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from mnist_lightning.hydra_setup import command_name, short_value, users_environment
from mnist_lightning.io import write_csv, write_text
from mnist_lightning.study.aggregate import aggregate
from mnist_lightning.study.plots import plot_optimization_history
from mnist_lightning.study.runs import Run, find_runs, sweep_config

log = logging.getLogger(__name__)
RESULTS = "optimization_results.yaml"  # written by hydra-optuna-sweeper
RETRAINED = "best_retrained"
# The train program, in a checkout and in an installed package alike (no path to src/train.py needed).
TRAIN_PROGRAM = "from mnist_lightning.programs import train; train()"


def is_search(sweep: Path) -> bool:
    return (Path(sweep) / RESULTS).is_file()


def _trial_number(run: Run) -> int:
    number = run.folder.name.split("_", 1)[0]
    return int(number) if number.isdigit() else -1


def optimized_metric(runs: list[Run]) -> str:
    """The metrics.json key the search maximised (train.yaml's `optimized_metric`)."""
    for run in runs:
        config = run.folder / ".hydra" / "config.yaml"
        if config.is_file():
            return OmegaConf.load(config).get("optimized_metric") or "val_acc"
    return "val_acc"


def trials(runs: list[Run], keys: list[str], metric: str = "val_acc") -> list[dict[str, Any]]:
    """One row per trial: its number, parameters, the searched value (`optimized_metric`) and status."""
    return [
        {
            "trial": _trial_number(run),
            **{k: run.overrides.get(k) for k in keys},
            "value": run.metrics.get(metric) if run.status == "completed" else None,
            "status": run.status,
        }
        for run in runs
    ]


def search_overrides(sweep: Path, runs: list[Run]) -> list[str]:
    """The search's constant command-line overrides (data.root, trainer.max_steps, ...), from a trial's
    own overrides without the searched parameters, the search group and the seed."""
    config = sweep_config(sweep, runs)
    searched = {str(k) for k in OmegaConf.select(config, "hydra.sweeper.params") or {}} | {
        "hparams_search",
        "seed",
    }
    task = [str(o) for o in OmegaConf.select(config, "hydra.overrides.task") or []]
    return [
        o for o in task if o.split("=", 1)[0].lstrip("+~") not in searched and not o.startswith("report.")
    ]


def best_command(sweep: Path, runs: list[Run]) -> list[str]:
    """Overrides that train the best configuration found: the search's constants + the best parameters."""
    best = OmegaConf.to_container(OmegaConf.load(Path(sweep) / RESULTS))["best_params"]
    return [*search_overrides(sweep, runs), *(f"{key}={value}" for key, value in best.items())]


def retrain_best(sweep: Path, seeds: int) -> Path:
    """Train the best configuration with seeds 1..`seeds` into `<sweep>/best_retrained` (its own multirun)."""
    target = Path(sweep) / RETRAINED
    command = [
        sys.executable,
        "-c",
        TRAIN_PROGRAM,
        "-m",
        *best_command(sweep, find_runs(sweep)),
        f"seed={','.join(str(s) for s in range(1, seeds + 1))}",
        f"hydra.sweep.dir={target}",
    ]
    log.info("Re-training the best configuration with %d seeds: train.py %s", seeds, " ".join(command[3:]))
    with users_environment():
        finished = subprocess.run(command, check=False)
    if finished.returncode:  # the report still shows the seeds that completed
        log.error("Re-training the best configuration failed (exit %d); see %s", finished.returncode, target)
    return target


def write_search_report(sweep: Path, runs: list[Run], keys: list[str]) -> str:
    """trials.csv, optimization_history.png, best_overrides.txt; returns the Markdown summary."""
    metric = optimized_metric(runs)
    rows = trials(runs, keys, metric)
    write_csv(sweep / "trials.csv", ["trial", *keys, "value", "status"], rows)
    plot_optimization_history(rows, sweep / "optimization_history.png")
    results = OmegaConf.to_container(OmegaConf.load(sweep / RESULTS))
    overrides = " ".join(best_command(sweep, runs))
    write_text(sweep / "best_overrides.txt", overrides + "\n")
    lines = [
        "## Optuna search",
        "",
        "| trial | " + " | ".join(keys) + f" | {metric} (maximised) | status |",
        "|---" * (len(keys) + 3) + "|",
        *(
            f"| {t['trial']} | "
            + " | ".join(short_value(str(t[k])) for k in keys)
            + f" | {t['value'] if t['value'] is not None else '—'} | "
            f"{t['status']} |"
            for t in rows
        ),
        "",
        f"Best {metric} {results['best_value']:.4f} with "
        + ", ".join(f"{k}={v}" for k, v in results["best_params"].items())
        + ". To train it:",
        "",
        f"    {command_name('train')} {overrides}",
        "",
        "optimization_history.png: each trial's validation accuracy and the best so far.",
    ]
    retrained = find_runs(sweep / RETRAINED) if (sweep / RETRAINED).is_dir() else []
    if retrained:
        [row], _ = aggregate(retrained, [])
        lines += [
            "",
            f"Test accuracy of the best configuration, re-trained after the search with {row['n_seeds']} seeds "
            f"(measured once; never used by the search): {row['test_acc_mean']:.4f} ± {row['test_acc_std']:.4f} "
            f"({row['completed']}/{row['n_seeds']} completed; `{RETRAINED}/`)."
            if row["test_acc_mean"] is not None
            else f"The best configuration, re-trained: {row['notes'] or 'no seed completed'}.",
        ]
    return "\n".join(lines) + "\n"
