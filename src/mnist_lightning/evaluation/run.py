"""The evaluator program: one checkpoint, or watch a folder as training writes checkpoints."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from mnist_lightning.console import quiet_console
from mnist_lightning.data.datamodule import MNISTDataModule
from mnist_lightning.errors import ConfigError, required
from mnist_lightning.evaluation.checkpoint_eval import describe, evaluate_checkpoint, watch_checkpoints
from mnist_lightning.hydra_setup import hydra_output_dir
from mnist_lightning.io import write_json
from mnist_lightning.persistence.checkpoints import is_url, resolve_checkpoint, run_folder_of
from mnist_lightning.renamed_keys import upgrade_data_settings
from mnist_lightning.tracking import attach_to_training_run

log = logging.getLogger(__name__)


class SplitCache:
    """Loads the evaluation data once, with the data settings the checkpoint was trained with.

    The validation split is only the same 5,000 images if val_size/val_images/val_seed match
    training, so they come from the checkpoint; `data` (the config's data node) only says where
    the files are (`data.root`) or, with `data=<group>`, which dataset to read instead.
    """

    def __init__(self, data: DictConfig | None) -> None:
        chosen = {
            key: (data or {}).get(key) for key in ("name", "root", "download")
        }  # the others need training keys
        self.override = {key: value for key, value in chosen.items() if value is not None}
        self.data: dict[str, tuple[torch.Tensor, torch.Tensor]] | None = None

    def __call__(self, checkpoint: dict[str, Any]) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        if self.data is None:
            settings = upgrade_data_settings(checkpoint.get("datamodule_hyper_parameters") or {})
            settings.update(download=False, track_test=False)
            settings.update(self.override)
            datamodule = MNISTDataModule(**settings)
            datamodule.setup()
            self.data = {"val": datamodule.val_set, "test": datamodule.test_set}
        return self.data


def evaluate(cfg: DictConfig, output_dir: str | Path) -> list[dict[str, Any]]:
    """Run the evaluator as configured; writes the JSON results and returns them."""
    required(cfg, "ckpt")
    splits = SplitCache(cfg.get("data"))

    def evaluate_path(path: Path) -> dict[str, Any]:
        return evaluate_checkpoint(
            path, splits, cfg.split, cfg.weights, (cfg.get("data") or {}).get("eval_batch_size")
        )

    output = Path(cfg.results_file) if cfg.results_file else Path(output_dir) / "evaluation.json"
    if cfg.watch:
        folder = Path(cfg.ckpt).expanduser()
        if folder.is_file():  # refused before this process changes anything about itself
            raise ConfigError(
                f"watch=true follows a folder as training writes into it, but ckpt={cfg.ckpt} is a file: "
                "give its checkpoints/ folder (or evaluate the file without watch=true)"
            )
        # Beside a training run: one thread, so the watcher never spins on the cores training uses,
        # at low priority, so the scheduler gives training the cores first (the watcher just lags).
        torch.set_num_threads(1)
        lower_priority()

        def save(
            results: list[dict[str, Any]],
        ) -> None:  # after every evaluation: Ctrl-C, a kill or a crash lose nothing
            write_json(output, {"results": results})

        save([])
        try:
            results = watch_checkpoints(
                folder, evaluate_path, cfg.interval, cfg.max_evals, cfg.timeout, on_result=save
            )
        except KeyboardInterrupt:
            log.info("Stopped watching (Ctrl-C); the evaluations so far are in %s", output)
            return json.loads(output.read_text())["results"]
        log.info("Results written to %s", output)
        return results
    checkpoint = resolve_checkpoint(cfg.ckpt)
    result = evaluate_path(checkpoint)
    log.info(describe(result))
    write_json(output, result)
    log.info("Result written to %s", output)
    if not is_url(checkpoint):
        attach_to_training_run(Path(run_folder_of(checkpoint)), [output])
    return [result]


def lower_priority(increment: int = 10) -> None:
    """Nice the watching evaluator (where the OS allows): training keeps its cores, the watcher takes the rest."""
    try:
        os.nice(increment)
    except (AttributeError, OSError):
        pass


def app(cfg: DictConfig) -> list[dict[str, Any]]:
    """The evaluate program, writing into Hydra's run folder."""
    quiet_console()
    return evaluate(cfg, hydra_output_dir())
