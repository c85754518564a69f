"""Every place a program writes, checked before it does any work: a result is never computed to be lost.

One table names each program's output keys and what each must be (a file or a folder); one check
says, for the first that cannot be written, which key, why, and what to give instead. Hydra has made
the run folder by then; this covers what the program itself writes into and next to it.
"""

from __future__ import annotations

import os
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from mnist_lightning.errors import UserError

# program -> {config key (or "<run>/<file>"): "file" | "folder"}; null values mean a default place
RUN_FOLDER = "<run>/"  # a file the program writes into its run folder (Hydra's output dir)
OUTPUT_PLACES = {
    "train": {
        "<run>/metrics.json": "file",
        "<run>/metrics.csv": "file",
        "callbacks.model_checkpoint.dirpath": "folder",
    },
    "evaluate": {"results_file": "file", "<run>/evaluation.json": "file"},
    "export": {"export_dir": "folder"},
    "predict": {"results_file": "file"},
}


def nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_place(key: str | None, value: str, kind: str) -> None:
    """One error line when `value` (the `key`'s; None: a file the program puts in its run folder)
    cannot be written as a `kind`."""
    path = Path(value).expanduser()
    what = f"{key}={value}" if key else f"{value} (the run writes it)"
    if kind == "file" and path.is_dir():
        fix = (
            f"give a file path, e.g. {key}={path / 'result.json'}"
            if key
            else "remove it or choose another hydra.run.dir"
        )
        raise UserError(f"{what} is a folder; {fix}")
    if kind == "folder" and path.exists() and not path.is_dir():
        raise UserError(f"{what} is a file; give a folder (it is made if it does not exist)")
    existing = nearest_existing(path.parent if kind == "file" else path)
    if not existing.is_dir():
        raise UserError(f"{what} cannot be made: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"{what} cannot be written: {existing} is not writable; choose another place")


def check_output_places(config_name: str, cfg: DictConfig) -> None:
    """Each output place of the program `config_name`, before its work; default places in the run folder."""
    from hydra.core.hydra_config import HydraConfig

    run_folder = HydraConfig.get().runtime.output_dir if HydraConfig.initialized() else None
    for key, kind in OUTPUT_PLACES.get(config_name, {}).items():
        if key.startswith(RUN_FOLDER):
            if run_folder and not (config_name == "evaluate" and cfg.get("results_file")):
                check_place(None, str(Path(run_folder) / key.removeprefix(RUN_FOLDER)), kind)
            continue
        value = OmegaConf.select(cfg, key, default=None)
        if value not in (None, ""):
            check_place(key, str(value), kind)
