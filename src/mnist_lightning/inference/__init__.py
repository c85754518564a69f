"""Inference on real image files: MNIST-style preprocessing and predictors for each model format."""
