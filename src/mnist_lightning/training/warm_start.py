"""Warm starts: initialise some of a new run's parameters from another run's checkpoint."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from mnist_lightning.persistence.restore import RestoreReport, load_mlp, restore_parameters
from mnist_lightning.training.module import MNISTClassifier

log = logging.getLogger(__name__)


def warm_start(
    module: MNISTClassifier, source: str, mapping: Mapping[str, str] | None = None, weights: str | None = None
) -> RestoreReport:
    """Copy (a subset of, optionally renamed) `source`'s MLP parameters into `module.net` before training.

    `weights` picks the source's EMA or raw weights (EMA when it has them); the moving average
    then restarts from the warm-started weights, as TF's shadows start from the initial values.
    """
    donor, _, weights = load_mlp(source, weights)
    report = restore_parameters(
        module.net, dict(donor.named_parameters()), dict(mapping) if mapping else None
    )
    if module.ema is not None:
        module.ema.restart_from(module.net)
    log.info("Warm start from %s (%s weights): %s", source, weights, report.summary())
    return report
