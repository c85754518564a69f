"""Hydra callback: time the multirun, and write the sweep's report into its folder when it ends."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from mnist_lightning.hydra_setup import command_name, parallel_jobs

log = logging.getLogger(__name__)


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class StudyReport(Callback):
    """After every multirun: its wall time (`sweep_time.json`), then the report; after an Optuna search,
    first re-train its best configuration."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._started, self._started_at = time.perf_counter(), utc_now()

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from mnist_lightning.io import write_json
        from mnist_lightning.machine import cpu_isa, cpu_model
        from mnist_lightning.study.report import write_report
        from mnist_lightning.study.runs import SWEEP_TIME_FILE
        from mnist_lightning.study.search import is_search, retrain_best

        sweep = config.hydra.sweep.dir
        settings = config.get("report") or {}
        try:
            seeds = settings.get("retrain_best_seeds") or 0
            if is_search(sweep) and seeds:
                retrain_best(sweep, seeds)
            if getattr(self, "_started", None) is not None:
                write_json(
                    Path(sweep) / SWEEP_TIME_FILE,
                    {
                        "started_at": self._started_at,
                        "finished_at": utc_now(),
                        "wall_s": round(time.perf_counter() - self._started, 1),
                        "jobs_at_once": parallel_jobs(config.hydra.launcher),
                        "cpu": f"{cpu_model()} ({', '.join(cpu_isa())})",
                    },
                )
            write_report(sweep, reference=settings.get("reference"))
        except Exception as exc:  # noqa: BLE001 - the jobs' own results are already safe on disk
            log.warning(
                "Could not write the sweep report (run `%s %s`): %s", command_name("report"), sweep, exc
            )
