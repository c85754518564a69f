"""Hydra callback: write the study report into the sweep folder when a multirun ends."""

from __future__ import annotations

import logging
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

log = logging.getLogger(__name__)


class StudyReport(Callback):
    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from mnist_lightning.study.report import write_report

        try:
            write_report(config.hydra.sweep.dir)
        except Exception as exc:  # the jobs' own results are already safe on disk
            log.warning("Could not write the sweep report (run `python src/report.py %s`): %s", config.hydra.sweep.dir, exc)
