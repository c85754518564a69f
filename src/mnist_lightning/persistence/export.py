"""Single-file exports that run without this repository: torch.export (.pt2), ONNX, structure JSON.

The tutorial froze graph + weights into one GraphDef and dumped the MetaGraph as JSON; these
are the modern equivalents. The EMA weights are baked in by default and the batch size is dynamic.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mnist_lightning.io import write_json
from mnist_lightning.models import MLP

INPUT_NAME, OUTPUT_NAME = "images", "logits"
FORMATS = ("pt2", "onnx", "json")


def _example_and_dims(net: MLP) -> tuple[tuple[torch.Tensor], tuple[dict[int, Any]]]:
    in_features = net.linear_layers()[0].in_features
    return (torch.rand(2, in_features),), ({0: torch.export.Dim("batch", min=1)},)


def export_pt2(net: MLP, path: Path) -> Path:
    """`torch.export` program; load with `torch.export.load(path).module()`."""
    example, dims = _example_and_dims(net)
    program = torch.export.export(net.eval(), example, dynamic_shapes=dims)
    torch.export.save(program, path)
    return path


def export_onnx(net: MLP, path: Path, opset: int = 18) -> Path:
    """ONNX model with input `images` (batch×784 float32) and output `logits` (batch×10)."""
    example, dims = _example_and_dims(net)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            net.eval(),
            example,
            dynamo=True,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_shapes=dims,
            opset_version=opset,
            external_data=False,
            verbose=False,
        )
    program.save(str(path), external_data=False)
    return path


def describe_structure(
    net: MLP, checkpoint: dict[str, Any], weights: str, metrics: dict[str, Any] | None
) -> dict[str, Any]:
    """Readable structure: layers, parameters, hyper-parameters, step, metrics, input/output spec."""
    layers = []
    for name, module in net.named_children():
        entry: dict[str, Any] = {"name": name, "type": type(module).__name__}
        if isinstance(module, nn.Linear):
            entry.update(in_features=module.in_features, out_features=module.out_features)
        layers.append(entry)
    first, last = net.linear_layers()[0], net.linear_layers()[-1]
    return {
        "format_version": 1,
        "model": "MLP",
        "weights": weights,
        "training_step": checkpoint.get("global_step"),
        "hyper_parameters": checkpoint["hyper_parameters"],
        "layers": layers,
        "parameters": [
            {"name": n, "shape": list(p.shape), "dtype": str(p.dtype).replace("torch.", "")}
            for n, p in net.named_parameters()
        ],
        "num_parameters": sum(p.numel() for p in net.parameters()),
        "input": {
            "name": INPUT_NAME,
            "shape": ["batch", first.in_features],
            "dtype": "float32",
            "description": "28x28 grey image flattened row-major, pixel/255 in [0, 1], white digit on black",
        },
        "output": {
            "name": OUTPUT_NAME,
            "shape": ["batch", last.out_features],
            "dtype": "float32",
            "description": "unnormalised class scores; softmax for probabilities, argmax for the digit",
        },
        "metrics": metrics,
    }


def write_structure(
    net: MLP, checkpoint: dict[str, Any], weights: str, metrics: dict[str, Any] | None, path: Path
) -> Path:
    write_json(path, describe_structure(net, checkpoint, weights, metrics))
    return path
