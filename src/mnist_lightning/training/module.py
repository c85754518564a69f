"""The LightningModule: the tutorial's loss, optimizer, LR decay and moving average."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from mnist_lightning.models import MLP
from mnist_lightning.models.fused_mlp import COMPUTE_DTYPES, fused_forward
from mnist_lightning.persistence.checkpoints import CheckpointError
from mnist_lightning.training.cuda_graph import GraphedLoss
from mnist_lightning.training.ema import ExponentialMovingAverage
from mnist_lightning.training.optimizers import build_optimizer
from mnist_lightning.training.precision import training_dtype
from mnist_lightning.training.regularization import l2_penalty
from mnist_lightning.training.schedule import build_lr_scheduler

EVAL_STAGES = ("val", "test", "tracked_test")
WEIGHT_LABELS = {"ema": "average model", "raw": "raw weights"}  # the tutorial's words


def is_logging_step(step_index: int, every_n_steps: int) -> bool:
    """Whether the step with this 0-based index logs its loss (the logger writes every n-th step)."""
    return (step_index + 1) % every_n_steps == 0


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
    ) -> None:
        super().__init__()
        if precision not in COMPUTE_DTYPES:
            raise ValueError(f"unknown precision {precision!r}; choose one of {sorted(COMPUTE_DTYPES)}")
        self.save_hyperparameters()
        self.automatic_optimization = False  # see training_step
        self.compute_dtype = torch.float32  # set for the device at fit start (see on_fit_start)
        self._direct_backward = self._use_cuda_graph = False  # decided for the device at fit start
        self._graphed_loss: GraphedLoss | None = None  # captured at the first step that uses it
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

    def __setattr__(self, name: str, value: Any) -> None:
        # Lightning sets `_current_fx_name` around every hook call (~40 times a step); a
        # plain string attribute needs none of nn.Module.__setattr__'s parameter/module checks.
        if name == "_current_fx_name":
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    @classmethod
    def from_checkpoint(cls, checkpoint: dict[str, Any], source: str = "<checkpoint>") -> MNISTClassifier:
        """Rebuild the module from a checkpoint dict (loaded safely by persistence) and its hyper-parameters."""
        try:
            model = cls(**checkpoint["hyper_parameters"])
        except (TypeError, ValueError) as exc:
            raise CheckpointError(
                f"{source}: its hyper-parameters do not describe this project's model ({exc})"
            ) from exc
        try:
            model.load_state_dict(checkpoint["state_dict"], strict=True)
        except RuntimeError as exc:
            raise CheckpointError(f"{source}: weights do not fit the model it describes: {exc}") from exc
        return model.eval()

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
        self.compute_dtype = training_dtype(self.hparams.precision, self.device)
        # One device and no precision plugin: nothing for Lightning to do around backward (DDP's
        # gradient sync and loss scaling need manual_backward), so call it directly (~0.2 ms a step
        # of hook dispatch on 2 CPU cores) and, on a GPU, replay it as a CUDA graph.
        self._direct_backward = self.trainer.world_size == 1 and self.trainer.precision == "32-true"
        self._use_cuda_graph = (
            self._direct_backward and self.hparams.cuda_graph and self.device.type == "cuda"
        )
        self._graphed_loss = None

    def training_loss(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The batch's cross-entropy as training computes it (L2 is the optimizer's weight decay).

        One autograd node for the MLP (GEMMs in bf16 with precision=bf16); weights stay fp32.
        """
        return F.cross_entropy(fused_forward(self.net, images, self.compute_dtype), labels)

    def _loss_and_gradients(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the batch, with its gradients left in the parameters' `.grad`."""
        if self._use_cuda_graph:
            if self._graphed_loss is None:
                self._graphed_loss = GraphedLoss(
                    self.training_loss, list(self.net.parameters()), images, labels
                )
            return self._graphed_loss(images, labels)
        cross_entropy = self.training_loss(images, labels)
        self.optimizers().zero_grad(set_to_none=True)
        if self._direct_backward:
            cross_entropy.backward()
        else:
            self.manual_backward(cross_entropy)
        return cross_entropy

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        """One tutorial step: forward, backward, optimizer and LR-schedule step, then the EMA update.

        Manual optimization: Lightning's automatic loop wraps each step in a closure and a dozen
        hook dispatches (~0.3 ms, a sixth of the step on 2 cores); here the step is a few calls.
        `optimizer.step()` still goes through Lightning (it counts global_step, DDP and
        precision plugins see it); checkpoints and resume are the same. On one GPU the
        forward and backward are one replayed CUDA graph (training/cuda_graph.py).
        """
        images, labels = batch
        optimizer, scheduler = self.optimizers(), self.lr_schedulers()
        cross_entropy = self._loss_and_gradients(images, labels)
        # Log only on the steps the logger writes: every self.log costs ~0.3 ms, a step ~2 ms.
        if is_logging_step(self.global_step, self.trainer.log_every_n_steps):
            with torch.no_grad():
                cross_entropy = cross_entropy.clone()  # a graph's output is overwritten by the next replay
                loss = cross_entropy + l2_penalty(self.net.weight_matrices(), self.hparams.l2_rate)
            self.log_dict({"train/loss": loss, "train/cross_entropy": cross_entropy}, prog_bar=True)
            self.log("lr", scheduler.get_last_lr()[0])
        optimizer.step()  # adds the L2 term's gradient, rate * w (see configure_optimizers)
        scheduler.step()
        if self.ema is not None:
            # global_step was incremented by the step just taken: num_updates is that step's index.
            self.ema.update(self.net, self.global_step - 1)
        return cross_entropy

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Checkpoints from before manual optimization counted steps in the automatic loop's progress."""
        loop = checkpoint.get("loops", {}).get("fit_loop", {})
        automatic = loop.get("epoch_loop.automatic_optimization.optim_progress")
        manual = loop.get("epoch_loop.manual_optimization.optim_step_progress")
        if automatic and manual and not manual["total"]["completed"]:
            loop["epoch_loop.manual_optimization.optim_step_progress"] = automatic["optimizer"]["step"]

    def _evaluation_step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> None:
        images, labels = batch
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
        rate * sum(w ** 2) / 2, but fused into the optimizer's update instead of two extra
        autograd ops over every weight (which cost ~2 ms a step on these CPUs).
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
