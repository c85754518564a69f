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
    batch_size: int | None = None,
) -> dict[str, Any]:
    """Result record for one checkpoint on `data_for(checkpoint)[split]`, EMA weights by default, in
    batches of `batch_size` (None: the eval batch size the checkpoint was trained with)."""
    net, checkpoint, weights = load_mlp(path, weights)
    images, labels = data_for(checkpoint)[split]
    batch_size = (
        batch_size or (checkpoint.get("datamodule_hyper_parameters") or {}).get("eval_batch_size") or 1000
    )
    metrics = evaluate_model(net, images, labels, batch_size)
    return {
        "checkpoint": str(path),
        "step": checkpoint.get("global_step"),
        "split": split,
        "weights": weights,
        **metrics,
    }


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
    on_result: Callable[[list[dict[str, Any]]], None] = lambda results: None,
) -> list[dict[str, Any]]:
    """Evaluate each new checkpoint in `folder` once, as training writes them; `on_result` gets
    the results so far after each one (the evaluator saves them then, so nothing done is lost).

    A checkpoint that cannot be read yet (half-written) is retried on the next round. One that
    is deleted before it could be evaluated (training keeps only the newest few) is reported as
    skipped, once. Steps already evaluated are never repeated, whatever file name they reappear under.
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
                if path.exists():
                    log.warning("Not evaluated yet (still being written?), will retry: %s", exc)
                else:
                    log.warning(
                        "Skipped %s: deleted before it could be evaluated (training keeps only the newest "
                        "checkpoints; a shorter interval evaluates them sooner)",
                        path.name,
                    )
                    done_files.add(path)
                continue
            done_files.add(path)
            if result["step"] in done_steps:
                continue
            done_steps.add(result["step"])
            results.append(result)
            on_result(results)
            log.info(describe(result))
            if max_evals is not None and len(results) >= max_evals:
                return results
        if timeout is not None and time.monotonic() - started >= timeout:
            return results
        sleep(interval)
