"""The tutorial's multi-layer perceptron, initialised the TensorFlow-1 way."""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch
from torch import nn


class Activation(NamedTuple):
    """A hidden-layer activation: its module, its in-place form, and its gradient from its *output*
    (autograd's own kernels; what the hand-written backward in `mlp_gradients.py` calls)."""

    module: type[nn.Module]
    inplace: Callable[[torch.Tensor], torch.Tensor]
    backward: Callable[
        [torch.Tensor, torch.Tensor], torch.Tensor
    ]  # (d loss/d output, output) -> d loss/d input


# The `model.activation` names: the one list every part of the project reads.
ACTIVATIONS = {
    "relu": Activation(
        nn.ReLU, torch.relu_, lambda grad, out: torch.ops.aten.threshold_backward(grad, out, 0)
    ),
    "tanh": Activation(nn.Tanh, torch.tanh_, torch.ops.aten.tanh_backward),
    "sigmoid": Activation(nn.Sigmoid, torch.sigmoid_, torch.ops.aten.sigmoid_backward),
    "none": Activation(nn.Identity, lambda z: z, lambda grad, out: grad),
}


class MLP(nn.Sequential):
    """784 -> hidden... -> 10 logits. `hidden=[]` is softmax regression.

    Linear layers are named `layer1`, `layer2`, ... (parameters `layer1.weight`, ...) so
    checkpoints read like the tutorial's variables and partial restores can name them.
    Weights ~ truncated normal (std `init_std`, cut at 2 std), biases = `bias_init`,
    as `tf.truncated_normal_initializer(stddev=0.1)` and `tf.constant_initializer(0.1)`.
    """

    def __init__(
        self,
        in_features: int = 784,
        hidden: Sequence[int] = (500,),
        num_classes: int = 10,
        activation: str = "relu",
        init_std: float = 0.1,
        bias_init: float = 0.1,
    ) -> None:
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose one of {sorted(ACTIVATIONS)}")
        widths = [in_features, *hidden, num_classes]
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        for i, (n_in, n_out) in enumerate(itertools.pairwise(widths), start=1):
            layers[f"layer{i}"] = nn.Linear(n_in, n_out)
            if i < len(widths) - 1 and activation != "none":
                layers[f"act{i}"] = ACTIVATIONS[activation].module()
        super().__init__(layers)
        self.activation = activation  # read by the hand-written gradients (models/mlp_gradients.py)
        self.reset_parameters(init_std, bias_init)

    def reset_parameters(self, init_std: float = 0.1, bias_init: float = 0.1) -> None:
        for layer in self.linear_layers():
            nn.init.trunc_normal_(layer.weight, std=init_std, a=-2 * init_std, b=2 * init_std)
            nn.init.constant_(layer.bias, bias_init)

    def linear_layers(self) -> list[nn.Linear]:
        return [m for m in self if isinstance(m, nn.Linear)]

    def weight_matrices(self) -> list[torch.Tensor]:
        """The parameters L2 regularization applies to (weights, never biases)."""
        return [layer.weight for layer in self.linear_layers()]
