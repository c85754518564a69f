"""The tutorial's training step, in one place: what the LightningModule, the benchmark's plain loop
and the CUDA graph all run.

    logits  = MLP(images)                                   784 -> 500 ReLU -> 10
    loss    = cross_entropy(logits, labels) + l2_rate * sum(||W||^2 / 2)
    W      <- W - lr * dloss/dW                             SGD; lr = lr0 * 0.99 ** (step / 550)
    shadow <- shadow + (1 - decay(step)) * (W - shadow)     the moving average

`TutorialStep.__call__` (and its `update`) is that, line for line. The L2 term's gradient, `l2_rate * W`, is added by
the optimizer as weight decay (`configure_optimizers`), exactly the gradient of `l2_penalty`
without two extra autograd ops over every weight. How the gradients are computed is the one part
that varies, chosen once at fit start (`choose_gradients`): plain autograd through the
`nn.Sequential` (the reference; with DDP, Lightning's `manual_backward`), or the same math with a
hand-written backward (`models/mlp_gradients.py`; bf16 GEMMs if asked), replayed from a CUDA graph
on one GPU. The tests hold each equal to the reference (tests/training/test_step.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from mnist_lightning.models.mlp_gradients import hand_written_supported, mlp_loss_and_gradients

# images, labels -> the batch's cross-entropy, its gradients left in each parameter's `.grad`
Gradients = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def l2_penalty(weights: Iterable[torch.Tensor], rate: float) -> torch.Tensor:
    """`rate * sum(tf.nn.l2_loss(w))` = rate * sum(w ** 2) / 2, over weight matrices only."""
    return rate * 0.5 * torch.stack([w.square().sum() for w in weights]).sum()


def tutorial_loss(cross_entropy: torch.Tensor, net: nn.Module, l2_rate: float) -> torch.Tensor:
    """The objective the tutorial minimises and logs: cross-entropy + the L2 penalty of the weights."""
    return cross_entropy + l2_penalty(net.weight_matrices(), l2_rate)


class TutorialStep:
    """One training step: gradients, SGD with the decayed learning rate, the moving-average update."""

    def __init__(
        self,
        net: nn.Module,
        optimizer: Any,  # torch.optim.Optimizer, or Lightning's wrapper of it (which counts the steps)
        scheduler: torch.optim.lr_scheduler.LRScheduler,
        ema: Any | None,  # training.ema.ExponentialMovingAverage, or None (ema=off)
        gradients: Gradients,
    ) -> None:
        self.net, self.optimizer, self.scheduler, self.ema = net, optimizer, scheduler, ema
        self.gradients = gradients

    def __call__(self, images: torch.Tensor, labels: torch.Tensor, step: int) -> torch.Tensor:
        """Step number `step` (0-based) on one batch; returns the batch's cross-entropy."""
        cross_entropy = self.gradients(images, labels)  # forward, loss, backward into each .grad
        self.update(step)
        return cross_entropy

    def update(self, step: int) -> None:
        """The update of step number `step`, from the gradients in each `.grad`."""
        self.optimizer.step()  # W <- W - lr * (grad + l2_rate * W); biases have no decay
        self.scheduler.step()  # the learning rate of the next step
        if self.ema is not None:
            self.ema.update(self.net, step)  # decay = min(ema_decay, (1 + step) / (10 + step))


def autograd_gradients(
    net: nn.Module, images: torch.Tensor, labels: torch.Tensor, backward: Callable[[torch.Tensor], Any]
) -> torch.Tensor:
    """The reference: the `nn.Sequential`'s forward and autograd's backward (`backward(loss)`)."""
    cross_entropy = F.cross_entropy(net(images), labels)
    for param in net.parameters():
        param.grad = None
    backward(cross_entropy)
    return cross_entropy.detach()


def choose_gradients(
    net: nn.Module,
    dtype: torch.dtype,
    device: torch.device,
    single_process: bool,
    cuda_graph: bool = True,
    backward: Callable[[torch.Tensor], Any] = torch.Tensor.backward,
    hand_written: bool = True,
) -> Gradients:
    """How this run computes its gradients, chosen once: hand-written on one process (its GEMMs in
    `dtype`; captured as a CUDA graph on a GPU), else plain autograd through `backward` (DDP's
    gradient sync hooks into it, and `hand_written=False` asks for it)."""
    if not (hand_written and single_process and hand_written_supported(net)):
        return partial(autograd_gradients, net, backward=backward)
    gradients = partial(mlp_loss_and_gradients, net, dtype=dtype)
    if cuda_graph and device.type == "cuda":
        from mnist_lightning.training.cuda_graph import CudaGraphed

        return CudaGraphed(gradients, params=list(net.parameters()))
    return gradients
