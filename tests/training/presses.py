"""A callback that sends its own training run a stop signal at a chosen point (used through Hydra)."""

import os
import signal

import lightning as L


class SignalAt(L.Callback):
    """Sends `signal_name` (SIGINT: Ctrl-C) to its own process `times` times once the stack of steps
    starting at `step` has been handed out by the data loader but not yet trained: the moment a stop
    must not be acted on."""

    def __init__(self, step: int, signal_name: str = "SIGINT", times: int = 1) -> None:
        self.step, self.signum, self.times = step, signal.Signals[signal_name], times

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx
    ) -> None:
        if trainer.global_step == self.step:
            for _ in range(self.times):
                os.kill(os.getpid(), self.signum)
