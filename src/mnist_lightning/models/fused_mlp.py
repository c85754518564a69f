"""The MLP's training forward and backward as one autograd node: a few GEMMs, optionally in bf16.

Autograd records a node per op of the tutorial's MLP (addmm, relu, addmm, transposes) and
dispatches each from its engine; for a model this small that bookkeeping is a visible share of
the step. This node runs the same math from saved activations, never computes a gradient for
the input images, and uses autograd's own activation-backward kernels. In bf16 it casts the input and
weights for the GEMMs only (fp32 accumulation inside oneDNN/cuBLAS), returns fp32 logits and
fp32 gradients, so master weights, L2, the optimizer update and the EMA stay fp32.

Evaluation, export and checkpoints never see this: they use the `nn.Sequential` as is.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

COMPUTE_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
SUPPORTED_ACTIVATIONS = ("relu", "tanh", "sigmoid", "none")


def _activate_(z: torch.Tensor, activation: str) -> torch.Tensor:
    if activation == "relu":
        return z.relu_()
    if activation == "tanh":
        return z.tanh_()
    if activation == "sigmoid":
        return z.sigmoid_()
    return z


def _activation_backward(grad: torch.Tensor, output: torch.Tensor, activation: str) -> torch.Tensor:
    """d loss / d pre-activation from the activation's *output*, with autograd's own kernels
    (a boolean `masked_fill_` here costs 5x `threshold_backward`)."""
    if activation == "relu":
        return torch.ops.aten.threshold_backward(grad, output, 0)
    if activation == "tanh":
        return torch.ops.aten.tanh_backward(grad, output)
    if activation == "sigmoid":
        return torch.ops.aten.sigmoid_backward(grad, output)
    return grad


class FusedMLPFunction(torch.autograd.Function):
    """logits = L_n(act(...act(L_1(x)))) with L_i(h) = h W_i^T + b_i; params = (W_1, b_1, ..., W_n, b_n).

    Hidden layers compute in `dtype`; the output layer (width = classes, ~1% of the work) always
    in fp32, so the logits and the loss gradient keep full precision.
    """

    @staticmethod
    def forward(
        ctx: Any, x: torch.Tensor, activation: str, dtype: torch.dtype, *params: torch.Tensor
    ) -> torch.Tensor:
        weights, biases = params[0::2], params[1::2]
        dtypes = [dtype] * (len(weights) - 1) + [params[0].dtype]
        inputs, h = [], x
        for i, (w, b, layer_dtype) in enumerate(zip(weights, biases, dtypes)):
            h = h.to(layer_dtype)
            inputs.append(h)
            h = torch.addmm(b.to(layer_dtype), h, w.to(layer_dtype).t())
            if i < len(weights) - 1:
                h = _activate_(h, activation)
        ctx.activation, ctx.dtypes = activation, dtypes
        ctx.save_for_backward(*inputs, *weights[1:])
        return h

    @staticmethod
    def backward(ctx: Any, grad_logits: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        dtypes = ctx.dtypes
        n = len(dtypes)
        saved = ctx.saved_tensors
        inputs, upper_weights = saved[:n], saved[n:]  # inputs[i] feeds layer i+1; weights of layers 2..n
        grads: list[torch.Tensor] = []
        g = grad_logits
        for i in reversed(range(n)):
            g = g.to(dtypes[i])
            grads[:0] = [g.t().mm(inputs[i]).float(), g.sum(0, dtype=torch.float32)]
            if i > 0:  # no gradient for the input images
                g = _activation_backward(g.mm(upper_weights[i - 1].to(dtypes[i])), inputs[i], ctx.activation)
        return (None, None, None, *grads)


def fused_supported(net: nn.Module, x: torch.Tensor) -> bool:
    """Whether `fused_forward` computes `net`: an MLP of Linear layers with one supported activation."""
    return (
        getattr(net, "activation", None) in SUPPORTED_ACTIVATIONS
        and hasattr(net, "linear_layers")
        and x.dim() == 2
        and x.is_floating_point()
        and not x.requires_grad  # the node gives the input no gradient
        and all(p.dtype == torch.float32 for p in net.parameters())
    )


def fused_forward(net: nn.Module, x: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Training logits of an `MLP` through one fused autograd node; plain autograd (fp32) otherwise."""
    if not fused_supported(net, x):
        return net(x)
    params = [t for layer in net.linear_layers() for t in (layer.weight, layer.bias)]
    return FusedMLPFunction.apply(x, net.activation, dtype, *params)
