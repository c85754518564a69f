"""The predict program: classify image files with a checkpoint, .pt2 or .onnx model."""

from __future__ import annotations

import csv
import io
import json
import logging
from typing import Any

import numpy as np
from omegaconf import DictConfig

from mnist_lightning.console import quiet_console
from mnist_lightning.errors import DataError, UserError, required
from mnist_lightning.inference.classify import classify_rows
from mnist_lightning.inference.decoding import image_files
from mnist_lightning.inference.predictors import load_model
from mnist_lightning.inference.preprocess import NoDigit, mnist_input
from mnist_lightning.io import write_text

log = logging.getLogger(__name__)


def classify_files(ckpt: str, inputs: list[str], weights: str | None = None) -> list[dict[str, Any]]:
    """One record per file: digit, probability, top-3; a blank image gets `digit: null` and a
    `note`, an unreadable or missing file an `error` instead."""
    loaded = load_model(ckpt, weights)
    records, rows, readable = [], [], []
    for path in image_files(inputs):
        record: dict[str, Any] = {"file": str(path)}
        try:
            rows.append(mnist_input(path))
            readable.append(record)
        except NoDigit as exc:
            record.update(digit=None, note=str(exc))
        except DataError as exc:
            record["error"] = str(exc)
        records.append(record)
    if rows:
        for record, answer in zip(readable, classify_rows(loaded.predict, np.stack(rows))):
            record.update(answer)
    return records


def render(records: list[dict[str, Any]], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(records, indent=2)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["file", "digit", "probability", "top", "error"])
        for r in records:
            top = " ".join(f"{t['digit']}:{t['probability']:.3f}" for t in r.get("top", []))
            writer.writerow(
                [
                    r["file"],
                    r.get("digit", ""),
                    r.get("probability", ""),
                    top,
                    r.get("error", r.get("note", "")),
                ]
            )
        return buffer.getvalue()
    lines = []
    for r in records:
        if "error" in r:
            lines.append(f"{r['file']}: ERROR {r['error']}")
        elif r.get("digit") is None:
            lines.append(f"{r['file']}: {r['note']}")
        else:
            top = ", ".join(f"{t['digit']} ({t['probability']:.3f})" for t in r["top"])
            lines.append(f"{r['file']}: {r['digit']}  p={r['probability']:.3f}  top-3: {top}")
    return "\n".join(lines)


def predict(cfg: DictConfig) -> list[dict[str, Any]]:
    """Classify, print or write the results; a UserError when no input could be read at all."""
    required(cfg, "ckpt")
    required(cfg, "inputs")
    inputs = [cfg.inputs] if isinstance(cfg.inputs, str) else list(cfg.inputs)
    records = classify_files(cfg.ckpt, inputs, cfg.weights)
    if not records:
        raise UserError(f"no image files found in {inputs}")
    text = render(records, cfg.results_as)
    if cfg.results_file:
        try:
            write_text(cfg.results_file, text + "\n")
        except OSError as exc:
            raise UserError(f"cannot write results_file={cfg.results_file}: {exc.strerror or exc}") from exc
        log.info("Predictions written to %s", cfg.results_file)
    else:
        print(text)
    if all("error" in r for r in records):
        raise UserError(f"none of the {len(records)} input(s) could be read (see the errors above)")
    return records


def app(cfg: DictConfig) -> list[dict[str, Any]]:
    """The predict program, as `src/predict.py` runs it: its console quiet, then `predict`."""
    quiet_console()
    return predict(cfg)
