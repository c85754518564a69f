"""Rows = configurations: the runs of one set of swept values, aggregated over seeds, compared to a reference."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from mnist_lightning.errors import ConfigError
from mnist_lightning.study.runs import Run
from mnist_lightning.study.stats import (
    mean,
    paired_interval,
    pearson,
    seeds_to_decide,
    std,
    summary,
    verdict,
    welch_interval,
)

Configuration = tuple[tuple[str, str], ...]  # ((key, value), ...) in the sweep's key order
MARGIN = 0.001  # a difference within ±0.10 accuracy points "matters little" (report.margin)
FIGURE_COLUMNS = [
    "label",
    "n_seeds",
    "completed",
    "diverged",
    "failed",
    "test_acc_mean",
    "test_acc_std",
    "test_acc_min",
    "test_acc_max",
    "val_acc_mean",
    "best_val_acc_mean",
    "diff_vs_reference",
    "diff_ci_low",
    "diff_ci_high",
    "paired_n",
    "paired_diff",
    "paired_ci_low",
    "paired_ci_high",
    "design",
    "significant",
    "verdict",
    "seeds_to_decide",
    "steps",
    "wall_time_s_mean",
    "weights",
    "compute_dtype",
    "cpu",
    "notes",
]


def configuration_of(run: Run, keys: list[str]) -> Configuration:
    return tuple((key, run.overrides.get(key, "—")) for key in keys)


def label_of(configuration: Configuration) -> str:
    """`lr=0.1`; `variant=no_l2, lr=0.4`; the study's single `variant` key reads as just `no_l2`."""
    if len(configuration) == 1 and configuration[0][0] == "variant":
        return configuration[0][1]
    return ", ".join(f"{k}={v}" for k, v in configuration) or "all runs"


def group_by_configuration(runs: list[Run], keys: list[str]) -> dict[Configuration, list[Run]]:
    """Runs per configuration, in the order the sweep ran them (its own order of values)."""
    groups: dict[Configuration, list[Run]] = defaultdict(list)
    for run in runs:
        groups[configuration_of(run, keys)].append(run)
    return dict(groups)


def what_ran(run: Run) -> tuple[str, str]:
    """(compute dtype, CPU with its ISA) from the run's record; "unrecorded" for runs older than the record."""
    machine = run.metrics.get("machine") or {}
    cpu = machine.get("cpu")
    if cpu and machine.get("cpu_isa"):
        cpu += f" ({', '.join(machine['cpu_isa'])})"
    if machine.get("accelerator"):
        cpu = f"{machine['accelerator']} / {cpu}"
    return run.metrics.get("compute_dtype") or "unrecorded", cpu or "unrecorded"


def mixed_machines_note(runs: list[Run]) -> str | None:
    """One sentence when the jobs did not all run in one dtype on one kind of machine."""
    dtypes = sorted({what_ran(r)[0] for r in runs if r.metrics})
    cpus = sorted({what_ran(r)[1] for r in runs if r.metrics})
    parts = [f"{len(dtypes)} compute dtypes ({', '.join(dtypes)})"] if len(dtypes) > 1 else []
    parts += [f"{len(cpus)} kinds of machine ({'; '.join(cpus)})"] if len(cpus) > 1 else []
    if not parts:
        return None
    return (
        f"These jobs ran in {' and on '.join(parts)}: differences between rows may come from "
        "where they ran, not only from the swept values."
    )


def status_label(row: dict[str, Any]) -> str:
    """What a row without a test accuracy shows instead."""
    return "diverged" if row["diverged"] else "failed"


def diverged_notes(diverged: list[Run]) -> list[str]:
    """`seeds 1, 2, 3 diverged at step 100`: one note per step the seeds diverged at."""
    by_step: dict[Any, list[Any]] = defaultdict(list)
    for run in diverged:
        by_step[run.metrics.get("diverged_at_step")].append(run.seed)
    return [
        f"seed{'s' if len(seeds) > 1 else ''} {', '.join(str(s) for s in seeds)} diverged at step {step}"
        for step, seeds in by_step.items()
    ]


def raw_weights_notes(runs: list[Run]) -> list[str]:
    """`the raw weights of all's jobs`, for a configuration read from another's (study/raw_weights.py)."""
    sources = sorted({r.metrics["raw_weights_of"] for r in runs if r.metrics.get("raw_weights_of")})
    return (
        [f"read from the raw weights of {', '.join(sources)}'s jobs (not trained again)"] if sources else []
    )


def configuration_row(configuration: Configuration, runs: list[Run]) -> dict[str, Any]:
    """Test accuracy of the weights each run reports (EMA when on, raw when off) over its seeds.

    Diverged and failed seeds are counted and named in `notes`, never averaged in.
    """
    done = [r for r in runs if r.status == "completed" and r.metrics.get("test_acc") is not None]
    diverged = [r for r in runs if r.status == "diverged"]
    failed = [r for r in runs if r.status == "failed"]
    tests = [r.metrics["test_acc"] for r in done]
    vals = [r.metrics["val_acc"] for r in done if r.metrics.get("val_acc") is not None]
    best_vals = [r.metrics["best_val_acc"] for r in done if r.metrics.get("best_val_acc") is not None]
    walls = [r.metrics["wall_time_s"] for r in done if r.metrics.get("wall_time_s") is not None]
    notes = diverged_notes(diverged)
    notes += raw_weights_notes(runs)
    notes += [f"seed {r.seed} failed: {r.error}" for r in failed]
    return {
        **dict(configuration),
        "label": label_of(configuration),
        "n_seeds": len(runs),
        "completed": len(done),
        "diverged": len(diverged),
        "failed": len(failed),
        "test_acc_mean": mean(tests) if tests else None,
        "test_acc_std": std(tests) if tests else None,
        "test_acc_min": min(tests) if tests else None,
        "test_acc_max": max(tests) if tests else None,
        "val_acc_mean": mean(vals) if vals else None,
        "best_val_acc_mean": mean(best_vals) if best_vals else None,
        **dict.fromkeys(
            FIGURE_COLUMNS[FIGURE_COLUMNS.index("diff_vs_reference") : FIGURE_COLUMNS.index("steps")]
        ),
        "steps": max((r.metrics.get("step", 0) for r in done), default=None),
        "wall_time_s_mean": mean(walls) if walls else None,
        "weights": "/".join(sorted({r.weights for r in done})) or None,
        "compute_dtype": "/".join(sorted({what_ran(r)[0] for r in done})) or None,
        "cpu": " / ".join(sorted({what_ran(r)[1] for r in done})) or None,
        "notes": "; ".join(notes),
        "_tests": tests,
        "_by_seed": {r.seed: r.metrics["test_acc"] for r in done},
    }


def named_configuration(name: str, keys: list[str]) -> dict[str, str]:
    """`lr=0.1`, `variant=all,lr=0.4`, or a bare value (`all`) in a sweep of one key, as {key: value}."""
    named = dict(part.strip().split("=", 1) for part in name.split(",") if "=" in part)
    return named or ({keys[0]: name.strip()} if len(keys) == 1 else {})


def find_reference(
    rows: list[dict[str, Any]], keys: list[str], reference: str | None
) -> dict[str, Any] | None:
    """The row named by `reference` (`lr=0.1`, `variant=all`, `all`, `variant=all,lr=0.4`); default the first row."""
    if not rows:
        return None
    if not reference:
        return rows[0]
    wanted = named_configuration(reference, keys)
    matches = [row for row in rows if wanted and all(str(row.get(k)) == v for k, v in wanted.items())]
    if len(matches) != 1:
        labels = ", ".join(row["label"] for row in rows)
        raise ConfigError(
            f"report.reference={reference!r} names {len(matches)} configurations; choose one of: {labels}"
        )
    return matches[0]


def compare_to_reference(
    rows: list[dict[str, Any]],
    reference: dict[str, Any] | None,
    confidence: float = 0.95,
    margin: float = MARGIN,
) -> None:
    """Fill each row's difference to the reference's mean test accuracy: unpaired (Welch t) and paired by
    seed (the mean of per-seed differences, paired t), and the verdict of the design used: paired when
    at least two seeds ran in both, else Welch."""
    if reference is None or not reference["_tests"]:
        return
    ref = summary(reference["_tests"])
    for row in rows:
        if not row["_tests"]:
            continue
        row["diff_vs_reference"] = row["test_acc_mean"] - reference["test_acc_mean"]
        if row is reference:
            continue
        welch = welch_interval(summary(row["_tests"]), ref, confidence)
        if welch is not None:
            _, row["diff_ci_low"], row["diff_ci_high"] = welch
        seeds = sorted(set(row["_by_seed"]) & set(reference["_by_seed"]), key=str)
        differences = [row["_by_seed"][s] - reference["_by_seed"][s] for s in seeds]
        paired = paired_interval(differences, confidence)
        row["paired_n"] = len(seeds)
        if paired is not None:
            row["paired_diff"], row["paired_ci_low"], row["paired_ci_high"] = paired
        chosen, row["design"] = (paired, "paired") if paired else (welch, "welch") if welch else (None, None)
        if chosen is not None:
            diff, low, high = chosen
            row["significant"] = not (low <= 0 <= high)
            row["verdict"] = verdict(low, high, margin)
            spread = std(differences) if paired else math.sqrt(ref[1] ** 2 + row["test_acc_std"] ** 2)
            if row["verdict"] == "cannot tell":
                row["seeds_to_decide"] = seeds_to_decide(diff, spread, margin, confidence)


def aggregate(
    runs: list[Run], keys: list[str], reference: str | None = None, margin: float = MARGIN
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """(rows in sweep order, the reference row)."""
    groups = group_by_configuration(runs, keys)
    rows = [configuration_row(configuration, group) for configuration, group in groups.items()]
    ref = find_reference(rows, keys, reference)
    compare_to_reference(rows, ref, margin=margin)
    return rows, ref


def checkpoint_pairs(
    runs: list[Run], keys: list[str], include_step0: bool = True
) -> list[tuple[float, float, str]]:
    """(validation accuracy, test accuracy, configuration label) at every validation of runs with track_test."""
    pairs = []
    for run in runs:
        w = run.weights
        label = label_of(configuration_of(run, keys))
        for record in run.history:
            if not include_step0 and record.get("step") == 0:
                continue
            val, test = record.get(f"val_acc_{w}"), record.get(f"tracked_test_acc_{w}")
            if val is not None and test is not None:
                pairs.append((val, test, label))
    return pairs


def correlations(runs: list[Run], keys: list[str]) -> dict[str, Any]:
    """Pearson r between validation and test accuracy over the checkpoints, with and without step 0."""
    result: dict[str, Any] = {}
    for name, include in (("with_step0", True), ("without_step0", False)):
        pairs = checkpoint_pairs(runs, keys, include)
        result[name] = {
            "r": pearson([p[0] for p in pairs], [p[1] for p in pairs]),
            "n_checkpoints": len(pairs),
        }
    return result
