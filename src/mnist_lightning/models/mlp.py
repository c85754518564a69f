"""The tutorial's multi-layer perceptron, initialised the TensorFlow-1 way."""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "none": nn.Identity}


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
                layers[f"act{i}"] = ACTIVATIONS[activation]()
        super().__init__(layers)
        self.activation = activation  # read by the fused training step (models/fused_mlp.py)
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
