"""Reading a sweep folder: one record per job, including jobs that failed before writing results."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf


@dataclass
class Run:
    """One job of a sweep, as found on disk."""

    folder: Path
    status: str  # completed | diverged | failed
    variant: str
    seed: int | None
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


def read_run(folder: Path) -> Run:
    """A job folder's record; no metrics.json means the job failed (the log's last error is kept)."""
    config_path = folder / ".hydra" / "config.yaml"
    config = OmegaConf.load(config_path) if config_path.is_file() else OmegaConf.create()
    variant = str(config.get("variant_name") or "all")
    seed = config.get("seed")
    metrics_path = folder / "metrics.json"
    if not metrics_path.is_file():
        return Run(folder, "failed", variant, seed, error=_last_error_line(folder) or "no metrics.json written")
    metrics = json.loads(metrics_path.read_text())
    return Run(folder, metrics.get("status", "completed"), metrics.get("variant") or variant, metrics.get("seed", seed),
               metrics, metrics.get("error"))


def _job_order(folder: Path) -> tuple[int, str]:
    """Hydra names job folders `<job number>_<overrides>`: sort 2_ before 10_."""
    number = folder.name.split("_", 1)[0]
    return (int(number) if number.isdigit() else -1, folder.name)


def find_runs(sweep: Path) -> list[Run]:
    """Every job folder (one holding `.hydra/`) under a sweep folder, in job order."""
    folders = sorted({p.parent.parent for p in Path(sweep).glob("**/.hydra/config.yaml")}, key=_job_order)
    return [read_run(folder) for folder in folders]
