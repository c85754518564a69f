"""Callbacks: the tutorial's console lines and the divergence (NaN/Inf) guard."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from typing import Any

import lightning as L
import torch

from mnist_lightning.errors import UserError
from mnist_lightning.training.module import WEIGHT_LABELS

log = logging.getLogger(__name__)


class TrainingDiverged(UserError):
    """The loss or the weights became NaN/Inf; `step` is the first step it was seen at."""

    def __init__(self, step: int, what: str) -> None:
        self.step = step
        super().__init__(
            f"training diverged: {what} is not finite at step {step}. The learning rate is "
            "probably too high for this model (try a smaller lr, or reg/lr_schedule settings "
            "that shrink it). No checkpoint was written from the diverged weights."
        )


def scalar_metrics(metrics: Mapping[str, Any], prefixes: tuple[str, ...]) -> dict[str, float]:
    """Logged metrics under `prefixes` as floats, with flat names for JSON/CSV (`val/acc_ema` -> `val_acc_ema`)."""
    return {key.replace("/", "_"): float(value) for key, value in metrics.items() if key.startswith(prefixes)}


class TutorialPrinter(L.Callback):
    """Prints 'After N training step(s), validation accuracy using average model is X' like TF1."""

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        weights = pl_module.reported_weights
        accuracy = trainer.callback_metrics.get(f"val/acc_{weights}")
        if accuracy is not None:
            log.info(
                "After %d training step(s), validation accuracy using %s is %.4f",
                trainer.global_step,
                WEIGHT_LABELS[weights],
                float(accuracy),
            )


class DivergenceGuard(L.Callback):
    """Stops training at the first non-finite logged loss, and before any checkpoint of NaN weights.

    Checking every step would need a host sync per step; the loss is checked when the module
    logs it (`training_step` returns it then), and the weights before each validation (which
    precedes every save).
    """

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx
    ) -> None:
        loss = (outputs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise TrainingDiverged(trainer.global_step, "the training loss")

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        finite = torch.stack([p.isfinite().all() for p in pl_module.parameters()]).all()
        if not bool(finite):
            raise TrainingDiverged(trainer.global_step, "a weight")


class InterruptCheckpoint(L.Callback):
    """Ctrl-C or SIGTERM during training: write last.ckpt so the run can be resumed from there.

    Not on other exceptions: a diverged or crashed run must not overwrite the last good checkpoint.
    """

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        from lightning.pytorch.utilities.exceptions import SIGTERMException

        checkpoints = trainer.checkpoint_callback
        if not isinstance(exception, (KeyboardInterrupt, SIGTERMException)) or checkpoints is None:
            return
        if trainer.state.fn != "fit" or checkpoints.dirpath is None:
            return
        path = f"{checkpoints.dirpath}/last.ckpt"
        trainer.save_checkpoint(path)
        log.warning(
            "Interrupted at step %d: saved %s. Resume with: python src/train.py ... ckpt_path=%s",
            trainer.global_step,
            path,
            path,
        )


class ValidationHistory(L.Callback):
    """Keeps every validation's metrics by step: the curves and val/test correlation read it."""

    def __init__(self) -> None:
        self.records: list[dict[str, float]] = []

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        self.records.append(
            {
                "step": trainer.global_step,
                **scalar_metrics(trainer.callback_metrics, ("val/", "tracked_test/")),
            }
        )


class TrainingClock(L.Callback):
    """Seconds spent training, without the validations (and the checkpoints saved after them).

    The clock stops when a validation starts and restarts at the next training batch, so
    `steps / seconds` is the training loop's speed, comparable with TF1's `steps_per_s_train`.
    On CUDA it synchronizes at those boundaries only (never per step).
    """

    def __init__(self) -> None:
        self.seconds = 0.0
        self._since: float | None = None

    def _stop(self, pl_module: L.LightningModule) -> None:
        if self._since is not None:
            if pl_module.device.type == "cuda":
                torch.cuda.synchronize(pl_module.device)
            self.seconds += time.perf_counter() - self._since
            self._since = None

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._since = time.perf_counter()

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if self._since is None:
            self._since = time.perf_counter()

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._stop(pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._stop(pl_module)
