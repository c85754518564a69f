"""Accuracy, loss, per-class accuracy and confusion matrix of a model on one split."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics.classification import MulticlassAccuracy, MulticlassConfusionMatrix


@torch.no_grad()
def evaluate_model(
    net: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    batch_size: int = 1000,
    num_classes: int | None = None,
) -> dict[str, Any]:
    """Metrics of `net` on (images N×784, labels N) in inference mode, in batches of `batch_size`;
    the class count is the model's own (its last linear layer's outputs) unless given."""
    net.eval()
    num_classes = num_classes or [m for m in net.modules() if isinstance(m, nn.Linear)][-1].out_features
    accuracy = MulticlassAccuracy(num_classes, average="micro")
    per_class = MulticlassAccuracy(num_classes, average=None)
    confusion = MulticlassConfusionMatrix(num_classes)
    loss_sum = 0.0
    for start in range(0, len(images), batch_size):
        x, y = images[start : start + batch_size], labels[start : start + batch_size]
        logits = net(x)
        loss_sum += F.cross_entropy(logits, y, reduction="sum").item()
        for metric in (accuracy, per_class, confusion):
            metric.update(logits, y)
    return {
        "accuracy": accuracy.compute().item(),
        "loss": loss_sum / len(images),
        "per_class_accuracy": [round(v, 6) for v in per_class.compute().tolist()],
        "confusion_matrix": confusion.compute().tolist(),
        "num_examples": len(images),
    }
