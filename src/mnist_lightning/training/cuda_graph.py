"""A function of one batch captured once as a CUDA graph, then replayed every step.

On a GPU this MLP's step is ~20 tiny kernels: launching them from Python takes longer than
running them, so the GPU idles. Replaying one captured graph launches them all at once.
Only the gradients are captured (written into the parameters' `.grad` buffers); the optimizer
step, the LR schedule and the moving average stay ordinary calls (a few fused kernels), so
Lightning still sees and counts every step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch


class CudaGraphed:
    """`fn(images, labels)`, captured at its first call and replayed from static input buffers.

    It returns the graph's own output tensors, overwritten by the next replay: use them (or
    clone them) before calling again. What `fn` writes into tensors that outlive it (the gradients
    function: each of `params`' `.grad`, allocated by the warm-up calls) is rewritten in place at
    every replay, so those very buffers are put back where anyone set `.grad` to None since: Lightning
    does before every validation, and the optimizer would then skip every parameter the graph
    computed. Shapes must not change: training batches are all `batch_size` rows (`drop_last`).
    """

    def __init__(
        self,
        fn: Callable[[torch.Tensor, torch.Tensor], Any],
        params: Sequence[torch.Tensor] = (),
        warmup: int = 3,
    ) -> None:
        self.fn, self.params, self.warmup = fn, list(params), warmup
        self.graph: torch.cuda.CUDAGraph | None = None

    def _capture(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        self.images, self.labels = images.clone(), labels.clone()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # cuBLAS handles and autograd's buffers exist before capture
            for _ in range(self.warmup):
                self.fn(self.images, self.labels)
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.outputs = self.fn(self.images, self.labels)
        self.grads = [param.grad for param in self.params]  # the buffers the graph writes

    def __call__(self, images: torch.Tensor, labels: torch.Tensor) -> Any:
        if self.graph is None:
            self._capture(images, labels)
        self.images.copy_(images, non_blocking=True)
        self.labels.copy_(labels, non_blocking=True)
        self.graph.replay()
        for param, grad in zip(self.params, self.grads):
            if param.grad is not grad:
                param.grad = grad
        return self.outputs
