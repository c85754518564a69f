"""Evaluation of saved models: accuracy, loss, per-class accuracy, confusion matrix; watch mode."""
