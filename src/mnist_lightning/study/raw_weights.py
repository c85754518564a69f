"""Configurations read from another configuration's raw weights (`report.raw_weights_of: {no_ema: all}`).

The moving average only reads the weights it averages: with the same seed, a run with EMA off trains
bit for bit what the run with EMA on trains, and the latter already evaluates its raw weights beside
the average (tests/study/test_raw_weights_of.py holds both equal, and the committed
`outputs/study-2026-12-03/no_ema-trained/` jobs, trained on their own, equal the figures read here).
So the study trains `all` once and reads `no_ema` from it: a second record of each `all` job, with the
raw weights' figures as the job's own. Nothing is trained or written for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from mnist_lightning.errors import ConfigError
from mnist_lightning.study.aggregate import named_configuration
from mnist_lightning.study.runs import Run

AVERAGE_LOSSES = ("val_loss", "test_loss")  # a run with EMA on records the losses of the average only


def _raw_only(record: Mapping[str, Any]) -> dict[str, Any]:
    """A record without what describes the average (`*_ema`, its losses)."""
    return {k: v for k, v in record.items() if not k.endswith("_ema") and k not in AVERAGE_LOSSES}


def _is(run: Run, configuration: Mapping[str, str]) -> bool:
    return all(run.overrides.get(k) == v for k, v in configuration.items())


def raw_weights_record(run: Run, configuration: Mapping[str, str], source: str) -> Run:
    """`run` (a job of configuration `source`) read as the run of `configuration`, EMA off: its raw
    weights' accuracies are the results."""
    overrides = {**run.overrides, **configuration}
    metrics = {**run.metrics, "raw_weights_of": source, "raw_weights_job": run.folder.name}
    if run.status != "completed":
        return replace(run, overrides=overrides, metrics=metrics)
    if metrics.get("test_acc_raw") is None:
        error = f"{run.folder.name}/metrics.json has no raw-weights test accuracy (was EMA off?)"
        return replace(run, status="failed", overrides=overrides, metrics={}, error=error)
    history = [_raw_only(record) for record in run.history]
    vals = [record["val_acc_raw"] for record in history if record.get("val_acc_raw") is not None]
    metrics = _raw_only(metrics)
    metrics.update(
        weights="raw",
        test_acc=metrics["test_acc_raw"],
        val_acc=metrics.get("val_acc_raw"),
        best_val_acc=max(vals, default=None),
        history=history,
        wall_time_s=None,  # nothing was trained for it
        **({"variant": configuration["variant"]} if "variant" in configuration else {}),
    )
    return replace(run, overrides=overrides, metrics=metrics)


def add_raw_weights_runs(runs: list[Run], keys: list[str], raw_weights_of: Mapping[str, str]) -> list[Run]:
    """`runs` and, for each `derived: source` whose derived configuration the sweep did not train, a
    record of each of the source's runs as the derived configuration's (after the sweep's own runs)."""
    added = []
    for derived, source in raw_weights_of.items():
        wanted, given = named_configuration(str(derived), keys), named_configuration(str(source), keys)
        if not wanted or set(wanted) - set(keys) or not given or set(given) - set(keys):
            raise ConfigError(
                f"report.raw_weights_of: {derived}: {source} does not name configurations of this sweep "
                f"(its keys: {', '.join(keys) or 'none'}); write them as the report's rows are labelled"
            )
        if any(_is(run, wanted) for run in runs):
            continue  # trained in this sweep: its own jobs are the record
        sources = [run for run in runs if _is(run, given)]
        if not sources:
            raise ConfigError(
                f"report.raw_weights_of: {derived}: {source}: no job of this sweep ran {source}; "
                "name a configuration it trained (a row of its report)"
            )
        added += [raw_weights_record(run, wanted, str(source)) for run in sources]
    return runs + added


def sweep_raw_weights_of(config: Any) -> dict[str, Any]:
    """The sweep's `report.raw_weights_of` (from its multirun.yaml or a job's config), {} if none."""
    from omegaconf import OmegaConf

    mapping = OmegaConf.select(config, "report.raw_weights_of", default=None)
    return dict(OmegaConf.to_container(mapping)) if mapping else {}
