"""Training: the LightningModule, its pieces (EMA, L2, LR schedule) and callbacks.

`MNISTClassifier` is imported on first use, so the config checks (`config_checks.py`) can run
before Lightning is imported: a bad value answers in a second, not after Lightning's imports.
"""

from typing import Any

__all__ = ["MNISTClassifier"]


def __getattr__(name: str) -> Any:
    if name == "MNISTClassifier":
        from mnist_lightning.training.module import MNISTClassifier

        return MNISTClassifier
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
