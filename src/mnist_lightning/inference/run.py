"""The predict program: classify image files with a checkpoint, .pt2 or .onnx model."""

from __future__ import annotations

import csv
import io
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from mnist_lightning.errors import ConfigError, DataError, UserError, invalid_value
from mnist_lightning.inference.predictors import load_predictor
from mnist_lightning.inference.preprocess import image_files, preprocess_file

log = logging.getLogger(__name__)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def classify_files(model: str, inputs: list[str], weights: str | None = None) -> list[dict[str, Any]]:
    """One record per file: digit, probability, top-3; unreadable files get an `error` instead."""
    predict = load_predictor(model, weights)
    records, rows, readable = [], [], []
    for path in image_files(inputs):
        try:
            rows.append(preprocess_file(path))
            readable.append(len(records))
            records.append({"file": str(path)})
        except DataError as exc:
            log.warning("Skipped: %s", exc)
            records.append({"file": str(path), "error": str(exc)})
    if rows:
        probabilities = softmax(predict(np.stack(rows)))
        for index, p in zip(readable, probabilities):
            top = np.argsort(-p)[:3]
            records[index].update(
                digit=int(top[0]),
                probability=round(float(p[top[0]]), 6),
                top3=[{"digit": int(d), "probability": round(float(p[d]), 6)} for d in top],
            )
    return records


def render(records: list[dict[str, Any]], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(records, indent=2)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["file", "digit", "probability", "top3", "error"])
        for r in records:
            top3 = " ".join(f"{t['digit']}:{t['probability']:.3f}" for t in r.get("top3", []))
            writer.writerow([r["file"], r.get("digit", ""), r.get("probability", ""), top3, r.get("error", "")])
        return buffer.getvalue()
    lines = []
    for r in records:
        if "error" in r:
            lines.append(f"{r['file']}: ERROR {r['error']}")
        else:
            top3 = ", ".join(f"{t['digit']} ({t['probability']:.3f})" for t in r["top3"])
            lines.append(f"{r['file']}: {r['digit']}  p={r['probability']:.3f}  top-3: {top3}")
    return "\n".join(lines)


def predict(cfg: DictConfig) -> list[dict[str, Any]]:
    if cfg.format not in ("text", "json", "csv"):
        raise invalid_value("format", cfg.format, "text, json or csv")
    if not cfg.model or not cfg.inputs:
        raise ConfigError("model=<ckpt|run folder|.pt2|.onnx> and inputs=<file, folder or [list]> are required")
    inputs = [cfg.inputs] if isinstance(cfg.inputs, str) else list(cfg.inputs)
    records = classify_files(cfg.model, inputs, cfg.weights)
    if not records:
        raise UserError(f"no image files found in {inputs}")
    text = render(records, cfg.format)
    if cfg.output:
        Path(cfg.output).write_text(text + "\n")
        log.info("Predictions written to %s", cfg.output)
    else:
        print(text)
    return records
