"""Evaluate one checkpoint, and the tutorial's watch loop over a folder of checkpoints."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from mnist_lightning.evaluation.metrics import evaluate_model
from mnist_lightning.persistence.checkpoints import CheckpointError, list_checkpoints
from mnist_lightning.persistence.restore import load_mlp

log = logging.getLogger(__name__)
SPLIT_NAMES = {"val": "validation", "test": "test"}


def evaluate_checkpoint(
    path: Path,
    data_for: Callable[[dict[str, Any]], dict[str, tuple[torch.Tensor, torch.Tensor]]],
    split: str,
    weights: str | None,
) -> dict[str, Any]:
    """Result record for one checkpoint on `data_for(checkpoint)[split]`, EMA weights by default."""
    net, checkpoint, weights = load_mlp(path, weights)
    images, labels = data_for(checkpoint)[split]
    metrics = evaluate_model(net, images, labels)
    return {"checkpoint": str(path), "step": checkpoint.get("global_step"), "split": split, "weights": weights, **metrics}


def describe(result: dict[str, Any]) -> str:
    """The tutorial's line: 'After N training step(s), validation accuracy = 0.xxxx'."""
    return (
        f"After {result['step']} training step(s), {SPLIT_NAMES[result['split']]} accuracy = "
        f"{result['accuracy']:.4f} ({result['weights']} weights, {Path(result['checkpoint']).name})"
    )


def watch_checkpoints(
    folder: Path,
    evaluate: Callable[[Path], dict[str, Any]],
    interval: float = 10.0,
    max_evals: int | None = None,
    timeout: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[dict[str, Any]]:
    """Evaluate each new checkpoint in `folder` once, as training writes them.

    A checkpoint that cannot be read yet (half-written) or vanishes (pruned by the
    checkpoint callback's keep-5 rule) is skipped for this round and retried on the next;
    nothing is reported for it until it loads. Steps already evaluated are never repeated,
    whatever file name they reappear under.
    """
    done_files: set[Path] = set()
    done_steps: set[int] = set()
    results: list[dict[str, Any]] = []
    started = time.monotonic()
    log.info("Watching %s every %gs for new checkpoints (Ctrl-C to stop)", folder, interval)
    while True:
        for path in list_checkpoints(folder) if folder.exists() else []:
            if path in done_files or path.name == "last.ckpt":
                continue
            try:
                result = evaluate(path)
            except CheckpointError as exc:
                log.warning("Not evaluated yet, will retry: %s", exc)
                continue
            done_files.add(path)
            if result["step"] in done_steps:
                continue
            done_steps.add(result["step"])
            results.append(result)
            log.info(describe(result))
            if max_evals is not None and len(results) >= max_evals:
                return results
        if timeout is not None and time.monotonic() - started >= timeout:
            return results
        sleep(interval)
