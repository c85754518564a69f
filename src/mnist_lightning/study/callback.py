"""Hydra callback: write the sweep's report into the sweep folder when a multirun ends."""

from __future__ import annotations

import logging
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from mnist_lightning.hydra_setup import command_name

log = logging.getLogger(__name__)


class StudyReport(Callback):
    """After every multirun: the report; after an Optuna search, first re-train its best configuration."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from mnist_lightning.study.report import write_report
        from mnist_lightning.study.search import is_search, retrain_best

        sweep = config.hydra.sweep.dir
        settings = config.get("report") or {}
        try:
            seeds = settings.get("retrain_best_seeds") or 0
            if is_search(sweep) and seeds:
                retrain_best(sweep, seeds)
            write_report(sweep, settings.get("reference"))
        except Exception as exc:  # noqa: BLE001 - the jobs' own results are already safe on disk
            log.warning(
                "Could not write the sweep report (run `%s %s`): %s", command_name("report"), sweep, exc
            )
