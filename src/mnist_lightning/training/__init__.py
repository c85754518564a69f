"""Training: the LightningModule, its pieces (EMA, L2, LR schedule) and callbacks."""

from mnist_lightning.training.module import MNISTClassifier

__all__ = ["MNISTClassifier"]
