"""Callbacks: the tutorial's console lines and the divergence (NaN/Inf) guard."""

from __future__ import annotations

import logging
import math

import lightning as L
import torch

from mnist_lightning.errors import UserError

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


class TutorialPrinter(L.Callback):
    """Prints 'After N training step(s), validation accuracy using average model is X' like TF1."""

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        metrics = trainer.callback_metrics
        weights = pl_module.weight_kinds[-1]
        accuracy = metrics.get(f"val/acc_{weights}")
        if accuracy is None:
            return
        model = "average model" if weights == "ema" else "raw weights"
        log.info(
            "After %d training step(s), validation accuracy using %s is %.4f",
            trainer.global_step,
            model,
            float(accuracy),
        )


class DivergenceGuard(L.Callback):
    """Stops training at the first non-finite logged loss, and before any checkpoint of NaN weights.

    Checking every step would need a host sync per step; the loss is checked when it is
    logged anyway, and the weights before each validation (which precedes every save).
    """

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx) -> None:
        if trainer.global_step % trainer.log_every_n_steps != 0:
            return
        loss = trainer.callback_metrics.get("train/loss")
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

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
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
        record = {"step": trainer.global_step}
        for key, value in trainer.callback_metrics.items():
            if key.startswith(("val/", "tracked_test/")):
                record[key.replace("/", "_")] = float(value)
        self.records.append(record)
