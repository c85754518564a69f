"""Hydra callback: a multirun whose jobs failed says which, and its process ends with exit status 4.

A failing job does not stop the sweep (console.run_reporting_errors records it as `failed.json` in its
folder and returns); this reads those records when the sweep ends, in the launching process, so the
outcome is the same whichever launcher ran the jobs (in-process, joblib workers, submitit).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from mnist_lightning.console import FAILED_JOB_FILE, note_failed_jobs

log = logging.getLogger(__name__)


def failed_jobs(sweep: str | Path) -> dict[str, str]:
    """job folder name -> its error line, for every job of the sweep that recorded a failure."""
    failed = {}
    for record in sorted(Path(sweep).glob(f"*/{FAILED_JOB_FILE}")):
        try:
            failed[record.parent.name] = json.loads(record.read_text())["error"]
        except (ValueError, KeyError, TypeError, OSError):
            failed[record.parent.name] = f"{FAILED_JOB_FILE} unreadable"
    return failed


class SweepOutcome(Callback):
    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep = config.hydra.sweep.dir
        failed = failed_jobs(sweep)
        jobs = len({p.parent.parent for p in Path(sweep).glob("*/.hydra/config.yaml")})
        if failed:
            log.error(
                "%d of %d jobs of the sweep in %s failed (exit status 4): %s; each job's error is in its "
                "failed.json",
                len(failed),
                jobs,
                sweep,
                ", ".join(failed),
            )
        note_failed_jobs(len(failed))
