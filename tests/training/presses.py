"""A callback that presses Ctrl-C from inside a training run, at a chosen point (used through Hydra)."""

import os
import signal

import lightning as L


class CtrlCAt(L.Callback):
    """Sends SIGINT to its own process `times` times when the batch of `step` has been handed out
    by the data loader but not yet trained: the moment an interrupt must not be acted on."""

    def __init__(self, step: int, times: int = 1) -> None:
        self.step, self.times = step, times

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx
    ) -> None:
        if trainer.global_step == self.step:
            for _ in range(self.times):
                os.kill(os.getpid(), signal.SIGINT)
