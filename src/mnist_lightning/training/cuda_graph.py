"""A loss's forward and backward captured once as a CUDA graph, then replayed every step.

On a GPU this MLP's step is ~20 tiny kernels: launching them from Python takes longer than
running them, so the GPU idles. Replaying one captured graph launches them all at once.
Only the forward and backward are captured; the optimizer step, the LR schedule and the EMA
stay ordinary calls (a few fused kernels), so Lightning still sees and counts every step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch


class GraphedLoss:
    """`loss_fn(images, labels)` and its gradients, replayed from static input buffers.

    After each call the parameters' `.grad` are the graph's gradient buffers, holding this batch's
    gradients (re-attached on every call: Lightning sets `.grad` to None before each validation).
    Shapes must not change: training batches are all `batch_size` rows (`drop_last`).
    """

    def __init__(
        self,
        loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        params: Sequence[torch.Tensor],
        images: torch.Tensor,
        labels: torch.Tensor,
        warmup: int = 3,
    ) -> None:
        self.images, self.labels = images.clone(), labels.clone()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # cuBLAS handles and autograd's buffers exist before capture
            for _ in range(warmup):
                loss_fn(self.images, self.labels).backward()
        torch.cuda.current_stream().wait_stream(side)
        for p in params:
            p.grad = None  # the captured backward allocates them in the graph's memory pool
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.loss = loss_fn(self.images, self.labels)
            self.loss.backward()
        self.params = list(params)
        self.grads = [p.grad for p in self.params]

    def __call__(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        self.images.copy_(images, non_blocking=True)
        self.labels.copy_(labels, non_blocking=True)
        self.graph.replay()
        for p, grad in zip(self.params, self.grads):
            p.grad = grad
        return self.loss
