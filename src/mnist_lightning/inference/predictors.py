"""One predict function per model format: a Lightning checkpoint, a .pt2 program, an ONNX model."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from mnist_lightning.errors import UserError
from mnist_lightning.persistence.restore import load_mlp

Predictor = Callable[[np.ndarray], np.ndarray]  # (batch, 784) float32 -> (batch, 10) logits


def _torch_predictor(module: torch.nn.Module) -> Predictor:
    @torch.no_grad()
    def predict(batch: np.ndarray) -> np.ndarray:
        return module(torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))).numpy()

    return predict


def checkpoint_predictor(path: Path, weights: str | None = None) -> Predictor:
    net, _, _ = load_mlp(path, weights)
    return _torch_predictor(net)


def pt2_predictor(path: Path) -> Predictor:
    return _torch_predictor(torch.export.load(str(path)).module())


def onnx_predictor(path: Path) -> Predictor:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name

    def predict(batch: np.ndarray) -> np.ndarray:
        return session.run(None, {input_name: np.ascontiguousarray(batch, dtype=np.float32)})[0]

    return predict


def load_predictor(model: str | Path, weights: str | None = None) -> Predictor:
    """Predictor for a checkpoint (file or run folder), a `.pt2` or an `.onnx` file."""
    path = Path(model).expanduser()
    if path.suffix in (".onnx", ".pt2"):
        if not path.is_file():
            raise UserError(f"model file {path} does not exist")
        try:
            return onnx_predictor(path) if path.suffix == ".onnx" else pt2_predictor(path)
        except Exception as exc:  # each runtime raises its own types for a bad file
            raise UserError(f"{path}: cannot load this {path.suffix} model ({type(exc).__name__}: {exc})") from exc
    if path.suffix == ".ckpt" or path.is_dir():
        return checkpoint_predictor(path, weights)
    raise UserError(f"model={model}: expected a .ckpt file, a run folder, a .pt2 or an .onnx file")
