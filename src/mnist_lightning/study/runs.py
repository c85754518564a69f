"""Reading a sweep folder: one record per job (failed jobs too), and which keys the sweep varied."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from mnist_lightning.console import FAILED_JOB_FILE
from mnist_lightning.hydra_setup import swept_keys

SWEEP_TIME_FILE = "sweep_time.json"  # what the whole sweep cost (written by study/callback.py)
NOT_CONFIGURATION_KEYS = {"seed"}  # seeds of one configuration are aggregated, never compared


@dataclass
class Run:
    """One job of a sweep, as found on disk."""

    folder: Path
    status: str  # completed | diverged | failed
    seed: int | None
    overrides: dict[str, str] = field(default_factory=dict)  # the job's own command-line overrides
    metrics: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def weights(self) -> str:
        return self.metrics.get("weights", "raw")

    @property
    def history(self) -> list[dict[str, Any]]:
        return self.metrics.get("history", [])


def _last_error_line(folder: Path) -> str | None:
    for log in sorted(folder.glob("*.log")):
        lines = [line for line in log.read_text(errors="replace").splitlines() if "error" in line.lower()]
        if lines:
            return lines[-1].split("] - ", 1)[-1][:500]
    return None


def _overrides(folder: Path) -> dict[str, str]:
    path = folder / ".hydra" / "overrides.yaml"
    items = OmegaConf.to_container(OmegaConf.load(path)) if path.is_file() else []
    if not isinstance(items, list):
        raise TypeError("not a list of overrides")
    return dict(str(item).lstrip("+~").split("=", 1) for item in items if "=" in str(item))


def _failure(folder: Path) -> str:
    """Why a job left no metrics.json: its failed.json (console.record_failed_job), else its log's last error."""
    record = folder / FAILED_JOB_FILE
    if record.is_file():
        try:
            return str(json.loads(record.read_text())["error"])
        except (ValueError, KeyError, TypeError):
            return f"{FAILED_JOB_FILE} unreadable"
    return _last_error_line(folder) or "no metrics.json written"


def read_run(folder: Path) -> Run:
    """A job folder's record; no metrics.json means the job failed. A job whose files cannot be read
    (cut short, not YAML/JSON) is a failed job that says which file, never an error of the report."""
    try:
        config_path = folder / ".hydra" / "config.yaml"
        config = OmegaConf.load(config_path) if config_path.is_file() else OmegaConf.create()
        overrides = _overrides(folder)
    except Exception as exc:  # noqa: BLE001 - a YAML error of any kind: the job is named, the report goes on
        return Run(folder, "failed", None, error=f"unreadable .hydra/ ({type(exc).__name__}): {exc}"[:300])
    metrics_path = folder / "metrics.json"
    if not metrics_path.is_file():
        return Run(folder, "failed", config.get("seed"), overrides, error=_failure(folder))
    try:
        metrics = json.loads(metrics_path.read_text())
        if not isinstance(metrics, dict):
            raise TypeError("not a JSON object")
    except (ValueError, TypeError) as exc:
        error = f"unreadable metrics.json ({exc})"[:300]
        return Run(folder, "failed", config.get("seed"), overrides, error=error)
    status = metrics.get("status", "completed")
    return Run(
        folder, status, metrics.get("seed", config.get("seed")), overrides, metrics, metrics.get("error")
    )


def _job_order(folder: Path) -> tuple[int, str]:
    """Hydra names job folders `<job number>_<overrides>`: sort 2_ before 10_."""
    number = folder.name.split("_", 1)[0]
    return (int(number) if number.isdigit() else -1, folder.name)


def find_runs(sweep: Path) -> list[Run]:
    """Every job folder (one holding `.hydra/`) directly under a sweep folder, in job order."""
    folders = sorted({p.parent.parent for p in Path(sweep).glob("*/.hydra/config.yaml")}, key=_job_order)
    return [read_run(folder) for folder in folders]


def sweep_config(sweep: Path, runs: list[Run]) -> Any:
    """The sweep's Hydra config: `multirun.yaml` (the basic sweeper's), else a job's `.hydra/hydra.yaml` (Optuna)."""
    multirun = Path(sweep) / "multirun.yaml"
    if multirun.is_file():
        return OmegaConf.load(multirun)
    for run in runs:
        if (run.folder / ".hydra" / "hydra.yaml").is_file():
            return OmegaConf.load(run.folder / ".hydra" / "hydra.yaml")
    return OmegaConf.create()


def configuration_keys(sweep: Path, runs: list[Run]) -> list[str]:
    """The keys the sweep varied, other than the seed, in command-line order.

    Keys given several values on the command line (`lr=0.1,0.8`), the sweeper's own `params`
    (the study's variants, an Optuna search), and any key whose value differs between jobs.
    """
    config = sweep_config(sweep, runs)
    task = [str(item) for item in OmegaConf.select(config, "hydra.overrides.task") or []]
    keys = list(swept_keys(task)) + [str(k) for k in OmegaConf.select(config, "hydra.sweeper.params") or {}]
    values: dict[str, set[str]] = {}
    for run in runs:
        for key, value in run.overrides.items():
            values.setdefault(key, set()).add(value)
    keys += [key for key, seen in values.items() if len(seen) > 1]
    order = [item.split("=", 1)[0].lstrip("+~") for item in task] + [k for run in runs for k in run.overrides]
    keys = sorted(set(keys), key=lambda k: order.index(k) if k in order else len(order))
    return [key for key in keys if key not in NOT_CONFIGURATION_KEYS]
