"""The LightningModule: the tutorial's model, optimizer and moving average, running training/step.py's step."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from mnist_lightning.models import MLP
from mnist_lightning.models.mlp_gradients import COMPUTE_DTYPES
from mnist_lightning.training.ema import ExponentialMovingAverage
from mnist_lightning.training.optimizers import build_optimizer
from mnist_lightning.training.precision import training_dtype
from mnist_lightning.training.schedule import build_lr_scheduler
from mnist_lightning.training.stacking import steps_in
from mnist_lightning.training.step import TutorialStep, choose_gradients, tutorial_loss

EVAL_STAGES = ("val", "test", "tracked_test")
WEIGHT_LABELS = {"ema": "average model", "raw": "raw weights"}  # the tutorial's words


class MNISTClassifier(L.LightningModule):
    """MLP + cross-entropy + TF-style L2 (as weight decay), an optimizer with LR decay, EMA of the weights.

    Every argument is a plain Python type (dicts, lists, numbers), so checkpoints load
    with `torch.load(weights_only=True)` and rebuild the model without any config.

    `precision` ("fp32" | "bf16") is the training GEMMs' precision only: parameters, optimizer,
    EMA, evaluation and checkpoints are fp32 either way.

    EMA ordering: the shadow is updated after each SGD step from the weights that step
    produced, with num_updates = the index of that step (0 for the first). TF1's
    tutorial reads the weights before the step, i.e. the average here is one step
    "newer"; after 30k steps the difference is immaterial.

    A training batch is a stack of `steps_per_call` consecutive batches (training/stacking.py):
    `training_step` runs one tutorial step (training/step.py) for each.
    """

    def __init__(
        self,
        net: dict[str, Any] | None = None,
        lr: float = 0.8,
        optimizer: dict[str, Any] | None = None,
        lr_schedule: dict[str, Any] | None = None,
        l2_rate: float = 1e-4,
        ema_decay: float | None = 0.99,
        precision: str = "fp32",
        cuda_graph: bool = True,
        hand_written_gradients: bool = True,
    ) -> None:
        super().__init__()
        if precision not in COMPUTE_DTYPES:
            raise ValueError(f"unknown precision {precision!r}; choose one of {sorted(COMPUTE_DTYPES)}")
        self.save_hyperparameters()
        self.automatic_optimization = False  # the step is training/step.py's, see training_step
        self.compute_dtype = torch.float32  # set for the device at fit start (see on_fit_start)
        self.step: TutorialStep | None = None  # built at fit start
        self.net = MLP(**(net or {}))
        self.ema = ExponentialMovingAverage(self.net, ema_decay) if ema_decay is not None else None
        num_classes = self.net.linear_layers()[-1].out_features
        self.metrics = nn.ModuleDict(
            {
                f"{stage}_{weights}": MulticlassAccuracy(num_classes, average="micro")
                for stage in EVAL_STAGES
                for weights in self.weight_kinds
            }
        )

    @property
    def weight_kinds(self) -> tuple[str, ...]:
        """Weights evaluated: raw always, and the moving average when EMA is on."""
        return ("raw", "ema") if self.hparams.ema_decay is not None else ("raw",)

    @property
    def reported_weights(self) -> str:
        """The weights whose accuracy is the model's: the moving average when on, like the tutorial."""
        return "ema" if self.ema is not None else "raw"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits from the weights evaluation uses: the moving average when EMA is on."""
        return (self.ema.module if self.ema is not None else self.net)(x)

    def on_fit_start(self) -> None:
        single_process = self.trainer.world_size == 1
        self.compute_dtype = training_dtype(self.hparams.precision, self.device, single_process)
        gradients = choose_gradients(
            self.net,
            self.compute_dtype,
            self.device,
            single_process,
            self.hparams.cuda_graph,
            hand_written=self.hparams.hand_written_gradients,
            backward=self.manual_backward,
        )
        self.step = TutorialStep(self.net, self.optimizers(), self.lr_schedulers(), self.ema, gradients)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor | None:
        """One tutorial step per batch of the stack, up to `max_steps`; the loss on the steps the logger writes.

        The optimizer is Lightning's wrapper, so each step counts in `global_step` (and DDP sees it).
        Returns the logged loss on calls that log one (the divergence guard checks it), else None.
        """
        stacked_images, stacked_labels = batch
        steps_left = self.trainer.max_steps - self.global_step
        log_every = self.trainer.log_every_n_steps * steps_in(batch)  # Lightning counts calls; this, steps
        logged = None
        for images, labels in zip(stacked_images[:steps_left], stacked_labels[:steps_left]):
            step = self.global_step
            cross_entropy = self.step(images, labels, step)
            if (step + 1) % log_every == 0:
                logged = self._log_training(cross_entropy.clone(), step + 1)  # a CUDA graph reuses it
        return logged

    def _log_training(self, cross_entropy: torch.Tensor, step: int) -> torch.Tensor:
        with torch.no_grad():
            loss = tutorial_loss(cross_entropy, self.net, self.hparams.l2_rate)
        self.log_dict({"train/loss": loss, "train/cross_entropy": cross_entropy}, prog_bar=True)
        # `step` sets the x-axis of the logged values (Lightning's own count is of calls).
        self.log_dict({"lr": self.lr_schedulers().get_last_lr()[0], "step": float(step)})
        return loss

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """The one migration of Lightning's loop state: checkpoints written before manual optimization
        counted steps in the automatic loop's progress (tests/persistence/test_old_checkpoints.py)."""
        loop = checkpoint.get("loops", {}).get("fit_loop", {})
        automatic = loop.get("epoch_loop.automatic_optimization.optim_progress")
        manual = loop.get("epoch_loop.manual_optimization.optim_step_progress")
        if automatic and manual and not manual["total"]["completed"]:
            loop["epoch_loop.manual_optimization.optim_step_progress"] = automatic["optimizer"]["step"]

    def _evaluation_step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> None:
        images, labels = batch
        if stage != "tracked_test":  # the x-axis of the logged values, as in training
            self.log("step", float(self.global_step), on_epoch=True, add_dataloader_idx=False)
        nets = {"raw": self.net, "ema": self.ema.module if self.ema is not None else None}
        for weights in self.weight_kinds:
            logits = nets[weights](images)
            metric = self.metrics[f"{stage}_{weights}"]
            metric.update(logits, labels)
            self.log(f"{stage}/acc_{weights}", metric, on_step=False, on_epoch=True, add_dataloader_idx=False)
            if weights == self.reported_weights:
                self.log(
                    f"{stage}/loss", F.cross_entropy(logits, labels), on_epoch=True, add_dataloader_idx=False
                )

    def validation_step(
        self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        self._evaluation_step(batch, "val" if dataloader_idx == 0 else "tracked_test")

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._evaluation_step(batch, "test")

    def configure_optimizers(self) -> dict[str, Any]:
        """The configured optimizer (SGD by default) over two groups: weights decay by `l2_rate`, biases do not.

        Coupled weight decay adds rate * w to the gradient: exactly the gradient of TF's
        rate * sum(w ** 2) / 2 (`step.l2_penalty`), fused into the optimizer's pass over each weight.
        """
        groups = [
            {"params": self.net.weight_matrices(), "weight_decay": self.hparams.l2_rate},
            {"params": [layer.bias for layer in self.net.linear_layers()], "weight_decay": 0.0},
        ]
        optimizer_cfg = dict(self.hparams.optimizer or {"name": "sgd"})
        optimizer = build_optimizer(groups, lr=self.hparams.lr, **optimizer_cfg)
        schedule_cfg = dict(self.hparams.lr_schedule or {"name": "constant"})
        scheduler = build_lr_scheduler(optimizer, **schedule_cfg)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
