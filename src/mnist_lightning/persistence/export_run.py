"""The export program: checkpoint -> .pt2 / .onnx / structure .json files."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from mnist_lightning.console import quiet_console
from mnist_lightning.errors import invalid_value, required
from mnist_lightning.persistence.checkpoints import Location, is_url, resolve_checkpoint, run_folder_of
from mnist_lightning.persistence.export import FORMATS, export_onnx, export_pt2, write_structure
from mnist_lightning.persistence.restore import load_mlp
from mnist_lightning.tracking import attach_to_training_run

log = logging.getLogger(__name__)


def run_metrics(run_folder: Location, step: int | None) -> dict[str, Any] | None:
    """The training run's metrics.json entry for this checkpoint's step, if the (local) run folder has one."""
    path = Path(run_folder) / "metrics.json"
    if is_url(run_folder) or not path.is_file():
        return None
    record = json.loads(path.read_text())
    at_step = next((h for h in record.get("history", []) if h.get("step") == step), None)
    final = {k: v for k, v in record.items() if k != "history"} if record.get("step") == step else None
    return {"at_step": at_step, "final": final}


def export(cfg: DictConfig) -> dict[str, Path]:
    """Write the requested formats; returns {format: path}."""
    formats = FORMATS if cfg.format == "all" else (cfg.format,)  # one of them: schema.py
    stem = str(cfg.name)
    if (
        not stem or stem in (".", "..") or Path(stem).name != stem
    ):  # a file name, never a path out of export_dir
        raise invalid_value("name", cfg.name, "a file name without folders (the files go into export_dir)")
    path = resolve_checkpoint(required(cfg, "ckpt"))
    net, checkpoint, weights = load_mlp(path, cfg.weights)
    if cfg.export_dir:
        out = Path(cfg.export_dir)
    elif is_url(path):  # the exporters write local files
        out = Path.cwd() / "export"
        log.info("%s is on another filesystem: writing into %s (export_dir=... to choose)", path, out)
    else:
        out = Path(run_folder_of(path)) / "export"
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    if "pt2" in formats:
        written["pt2"] = export_pt2(net, out / f"{stem}.pt2")
    if "onnx" in formats:
        written["onnx"] = export_onnx(net, out / f"{stem}.onnx")
    if "json" in formats:
        metrics = run_metrics(run_folder_of(path), checkpoint.get("global_step"))
        written["json"] = write_structure(net, checkpoint, weights, metrics, out / f"{stem}.json")
    for kind, file in written.items():
        log.info("Wrote %s (%s, %s weights, step %s)", file, kind, weights, checkpoint.get("global_step"))
    if not is_url(path):
        attach_to_training_run(Path(run_folder_of(path)), list(written.values()), "export")
    return written


def app(cfg: DictConfig) -> dict[str, Path]:
    """The export program, as `src/export.py` runs it: its console quiet, then `export`."""
    quiet_console()
    return export(cfg)
