"""A loaded model for each format: a Lightning checkpoint, a .pt2 program, an ONNX model.

Each gives a `predict` function ((batch, 784) float32 -> (batch, 10) logits) and a description
(format, file, training step, weights) for the programs that show it.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mnist_lightning.errors import UserError
from mnist_lightning.persistence.checkpoints import is_url, resolve_checkpoint
from mnist_lightning.persistence.restore import load_mlp

Predictor = Callable[[np.ndarray], np.ndarray]


@dataclass
class LoadedModel:
    predict: Predictor
    info: dict[str, Any] = field(default_factory=dict)


def _torch_predictor(module: torch.nn.Module) -> Predictor:
    @torch.no_grad()
    def predict(batch: np.ndarray) -> np.ndarray:
        return module(torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))).numpy()

    return predict


def _onnx_predictor(path: Path, threads: int | None) -> Predictor:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads = options.inter_op_num_threads = threads
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name

    def predict(batch: np.ndarray) -> np.ndarray:
        return session.run(None, {input_name: np.ascontiguousarray(batch, dtype=np.float32)})[0]

    return predict


def _export_description(path: Path) -> dict[str, Any]:
    """Step and weights of an exported file, from the structure JSON the exporter writes beside it."""
    structure = path.with_suffix(".json")
    if not structure.is_file():
        return {"step": None, "weights": None}
    try:
        record = json.loads(structure.read_text())
    except (OSError, ValueError):
        return {"step": None, "weights": None}
    return {"step": record.get("training_step"), "weights": record.get("weights")}


@contextlib.contextmanager
def quiet_torch_loading() -> Iterator[None]:
    """torch.export logs a whole traceback of its own before raising for a bad file: the one error line is ours."""
    loggers = [
        logging.getLogger(name)
        for name in ("torch.export", "torch._export", "torch.export.pt2_archive", "torch._export.serde")
    ]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def load_model(model: str | Path, weights: str | None = None, threads: int | None = None) -> LoadedModel:
    """The model in a checkpoint (file, checkpoints/ or run folder, on any fsspec filesystem), a `.pt2`
    or an `.onnx` file."""
    if is_url(str(model)):
        model = resolve_checkpoint(str(model))
        net, checkpoint, used = load_mlp(model, weights)
        info = {"format": "ckpt", "file": model, "step": checkpoint.get("global_step"), "weights": used}
        return LoadedModel(_torch_predictor(net), info)
    path = Path(str(model).removeprefix("file://")).expanduser()
    if path.suffix in (".onnx", ".pt2"):
        if not path.is_file():
            raise UserError(f"model file {path} does not exist")
        described = _export_description(path)
        if weights is not None and weights != described["weights"]:
            baked = f"its {described['weights']} weights" if described["weights"] else "one set of weights"
            raise UserError(
                f"weights={weights}: {path} has {baked} baked in; give the checkpoint to choose, or export "
                f"again with weights={weights}"
            )
        try:
            with quiet_torch_loading():
                if path.suffix == ".onnx":
                    predict = _onnx_predictor(path, threads)
                else:
                    predict = _torch_predictor(torch.export.load(str(path)).module())
        except Exception as exc:  # each runtime raises its own types for a bad file
            reason = str(exc).splitlines()[0] if str(exc) else ""
            raise UserError(
                f"{path}: cannot load this {path.suffix} model (truncated, or not an export of this project: "
                f"{type(exc).__name__}: {reason[:200]})"
            ) from exc
        return LoadedModel(predict, {"format": path.suffix[1:], "file": str(path), **described})
    if path.suffix == ".ckpt" or path.is_dir():
        file = resolve_checkpoint(path)
        net, checkpoint, used = load_mlp(file, weights)
        info = {"format": "ckpt", "file": str(file), "step": checkpoint.get("global_step"), "weights": used}
        return LoadedModel(_torch_predictor(net), info)
    raise UserError(f"{model}: expected a .ckpt file, a checkpoints/ or run folder, a .pt2 or an .onnx file")
