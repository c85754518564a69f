"""A progress bar over the run's steps (`trainer.max_steps`), not over each epoch's batches.

Lightning's bar restarts every epoch ("Epoch 54: 300/300"), so it never says how long the run has
left; this one counts optimizer steps from start (or resume) to the end, with rate and time left.
Validation and test take a fraction of a second here: they get no bars of their own.
"""

from __future__ import annotations

import sys
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import TQDMProgressBar
from tqdm import tqdm


class StepProgressBar(TQDMProgressBar):
    def _steps_total(self, trainer: L.Trainer) -> int | None:
        total = trainer.estimated_stepping_batches
        return int(total) if total not in (None, float("inf")) else None

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.train_progress_bar = tqdm(  # plain tqdm: Lightning's own subclass is private
            desc="Training steps",
            total=self._steps_total(trainer),
            initial=trainer.global_step,  # a resumed run continues the count
            position=2 * self.process_position,
            disable=self.is_disabled,
            leave=True,
            dynamic_ncols=True,
            file=sys.stdout,
            smoothing=0,
        )

    def on_train_epoch_start(self, trainer: L.Trainer, *_: Any) -> None:
        pass  # one bar for the whole run

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        step, bar = trainer.global_step, self.train_progress_bar
        if self.is_enabled and (step % self.refresh_rate == 0 or step == bar.total):
            bar.n = step
            bar.set_postfix(self.get_metrics(trainer, pl_module), refresh=False)
            bar.refresh()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        pass

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.train_progress_bar.close()

    def get_metrics(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)
        return {"epoch": trainer.current_epoch, **metrics}

    def init_validation_tqdm(self) -> tqdm:
        return tqdm(disable=True)

    def init_test_tqdm(self) -> tqdm:
        return tqdm(disable=True)
