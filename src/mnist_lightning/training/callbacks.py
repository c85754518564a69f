"""Callbacks: the tutorial's console lines, the divergence (NaN/Inf) guard, the checkpoint on interrupt."""

from __future__ import annotations

import logging
import math
import signal

import lightning as L
import torch
from lightning.pytorch.utilities.exceptions import SIGTERMException

from mnist_lightning.errors import UserError
from mnist_lightning.hydra_setup import command_name
from mnist_lightning.training.interrupts import DeferredStop, StoppedAtOnce
from mnist_lightning.training.module import WEIGHT_LABELS

log = logging.getLogger(__name__)


class TrainingDiverged(UserError):
    """The loss or the weights became NaN/Inf; `step` is the first step it was seen at."""

    def __init__(self, step: int, what: str, last_finite: int | None = None) -> None:
        self.step = step
        when = f"at step {step}"
        if last_finite is not None and last_finite + 1 < step:  # checked sparsely: say the range
            when = f"between steps {last_finite + 1} and {step} (still finite at step {last_finite}; checked when logged)"
        super().__init__(
            f"training diverged: {what} became non-finite {when}. The learning rate is "
            "probably too high for this model (try a smaller lr, or reg/lr_schedule settings "
            "that shrink it). No checkpoint was written from the diverged weights."
        )


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
    precedes every save). The error names the steps between the last check that passed and this one.
    """

    last_finite: int | None = None

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.last_finite = trainer.global_step  # the weights it starts from (0, or a resumed step) are finite

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx
    ) -> None:
        loss = (outputs or {}).get("loss")
        if loss is None:
            return
        if not math.isfinite(float(loss)):
            raise TrainingDiverged(trainer.global_step, "the training loss", self.last_finite)
        self.last_finite = trainer.global_step

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        finite = torch.stack([p.isfinite().all() for p in pl_module.parameters()]).all()
        if not bool(finite):
            raise TrainingDiverged(trainer.global_step, "a weight", self.last_finite)
        self.last_finite = trainer.global_step


class InterruptCheckpoint(L.Callback):
    """Ctrl-C or SIGTERM during training: stop where the run resumes exactly, and write last.ckpt there.

    A training item is a stack of steps (training/module.py). The data loader counts a stack as done
    when it hands it out, the optimizer counts each step as it is taken: stopped between the two (a
    stack handed out, not yet trained), a run resumes past that stack. Lightning's own SIGTERM stop
    can land after an epoch is counted done, and its restart then skips an epoch of data (2.6.6).
    So both signals are only noted, and acted on after the stack being trained; a second one stops
    at once and writes nothing. With several processes SIGTERM stays Lightning's, which tells every
    process. Not on other exceptions: a diverged or crashed run keeps its last good checkpoint.
    """

    def __init__(self) -> None:
        doing = "the current stack of steps"
        self.ctrl_c = DeferredStop(signal.SIGINT, KeyboardInterrupt, doing)
        self.sigterm = DeferredStop(signal.SIGTERM, SIGTERMException, doing)

    def _deferred(self, trainer: L.Trainer) -> tuple[DeferredStop, ...]:
        return (self.ctrl_c, self.sigterm) if trainer.world_size == 1 else (self.ctrl_c,)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        for stop in self._deferred(trainer):
            stop.install()

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx
    ) -> None:
        self._stop_if_received(trainer)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._give_back()
        self._stop_if_received(trainer)

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self._give_back()

    def _stop_if_received(self, trainer: L.Trainer) -> None:
        for stop in self._deferred(trainer):
            stop.stop_if_received()

    def _give_back(self) -> None:
        for stop in (self.ctrl_c, self.sigterm):
            stop.uninstall()

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        self._give_back()
        checkpoints = trainer.checkpoint_callback
        if isinstance(exception, StoppedAtOnce):
            log.warning(
                "Stopped at once at step %d: no checkpoint written (resume from the last one saved, in %s)",
                trainer.global_step,
                checkpoints.dirpath if checkpoints is not None else "the run's checkpoints/",
            )
            return
        if not isinstance(exception, (KeyboardInterrupt, SIGTERMException)) or checkpoints is None:
            return
        if trainer.state.fn != "fit" or checkpoints.dirpath is None:
            return
        path = f"{checkpoints.dirpath}/last.ckpt"
        trainer.save_checkpoint(path)
        log.warning(
            "Interrupted at step %d: saved %s. Resume with: %s ... ckpt_path=%s",
            trainer.global_step,
            path,
            command_name("train"),
            path,
        )
