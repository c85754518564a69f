"""The MLP's cross-entropy gradients written out: its GEMMs and little else, optionally in bf16.

For a model this small, autograd's bookkeeping (a node per op, the engine's dispatch, gradient
accumulation) is a visible share of a training step. This computes the same products from the
saved activations without recording a graph, never computes a gradient for the input images, and
calls autograd's own kernels for the activations and the loss. It writes each gradient into its
parameter's `.grad`, as `backward()` does, but over the previous step's values: the buffers are
allocated once, not every step (a fresh 1.5 MB first-layer gradient per step costs page faults).
In bf16 it casts the inputs and weights of the hidden layers' GEMMs only (fp32 accumulation inside
oneDNN/cuBLAS); the output layer, the logits and every gradient stay fp32, so master weights, the
update and the moving average are fp32.

Evaluation, export and checkpoints never see this: they use the `nn.Sequential` as is.
"""

from __future__ import annotations

import torch
from torch import nn

from mnist_lightning.models.mlp import ACTIVATIONS, MLP

# The `precision` config group's names: the dtype of the hidden layers' training GEMMs.
COMPUTE_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def hand_written_supported(net: nn.Module) -> bool:
    """Whether `mlp_loss_and_gradients` computes `net`: this project's fp32 `MLP`."""
    return isinstance(net, MLP) and all(p.dtype == torch.float32 for p in net.parameters())


def cross_entropy_and_gradient(
    logits: torch.Tensor, labels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """`F.cross_entropy(logits, labels)` and its gradient for the logits: the four kernels autograd runs
    for it (log-softmax, NLL and their backwards), so the same bits without building a graph."""
    log_probs = torch.log_softmax(logits, dim=1)
    loss, total_weight = torch.ops.aten.nll_loss_forward(log_probs, labels, None, 1, -100)  # mean, no ignore
    grad_log_probs = torch.ops.aten.nll_loss_backward(
        torch.ones_like(loss), log_probs, labels, None, 1, -100, total_weight
    )
    return loss, torch.ops.aten._log_softmax_backward_data(grad_log_probs, log_probs, 1, log_probs.dtype)


@torch.no_grad()
def mlp_loss_and_gradients(
    net: MLP, images: torch.Tensor, labels: torch.Tensor, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """The batch's cross-entropy; its gradients are left in each parameter's `.grad`, overwritten."""
    layers, activation = net.linear_layers(), ACTIVATIONS[net.activation]
    dtypes = [dtype] * (len(layers) - 1) + [torch.float32]  # the output layer (1% of the work) in fp32
    inputs, h = [], images
    for i, (layer, layer_dtype) in enumerate(zip(layers, dtypes)):
        h = h.to(layer_dtype)
        inputs.append(h)
        h = torch.addmm(layer.bias.to(layer_dtype), h, layer.weight.to(layer_dtype).t())
        if i < len(layers) - 1:
            h = activation.inplace(h)
    cross_entropy, grad = cross_entropy_and_gradient(h, labels)
    for i in reversed(range(len(layers))):  # inputs[i] fed layer i; no gradient for the images
        weight, bias = layers[i].weight, layers[i].bias
        if weight.grad is None or bias.grad is None:
            weight.grad, bias.grad = torch.empty_like(weight), torch.empty_like(bias)
        grad = grad.to(dtypes[i])
        if dtypes[i] == weight.dtype:
            torch.mm(grad.t(), inputs[i], out=weight.grad)
        else:
            weight.grad.copy_(grad.t().mm(inputs[i]))  # the bf16 product, widened
        torch.sum(grad, 0, dtype=torch.float32, out=bias.grad)
        if i > 0:
            grad = activation.backward(grad.mm(weight.to(dtypes[i])), inputs[i])
    return cross_entropy
