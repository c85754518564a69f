import pytest
import torch

from mnist_lightning.models import MLP


def test_tutorial_architecture_and_names():
    net = MLP()
    names = {name: tuple(p.shape) for name, p in net.named_parameters()}
    assert names == {
        "layer1.weight": (500, 784),
        "layer1.bias": (500,),
        "layer2.weight": (10, 500),
        "layer2.bias": (10,),
    }
    assert net(torch.rand(3, 784)).shape == (3, 10)


def test_tf_initialisation():
    torch.manual_seed(0)
    net = MLP(init_std=0.1, bias_init=0.1)
    w = net.layer1.weight
    assert w.abs().max() <= 0.2  # truncated at 2 std
    assert 0.07 < w.std() < 0.09  # a normal truncated at 2 std has std ~0.88 sigma
    assert torch.all(net.layer1.bias == 0.1) and torch.all(net.layer2.bias == 0.1)


def test_softmax_regression_and_no_activation_and_depth():
    assert [n for n, _ in MLP(hidden=[]).named_parameters()] == ["layer1.weight", "layer1.bias"]
    linear = MLP(activation="none")
    assert not any(isinstance(m, torch.nn.ReLU) for m in linear)
    deep = MLP(hidden=[64, 32], activation="tanh")
    assert [tuple(layer.weight.shape) for layer in deep.linear_layers()] == [(64, 784), (32, 64), (10, 32)]
    assert len(deep.weight_matrices()) == 3


def test_unknown_activation():
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        MLP(activation="swish")
