"""Resuming a run: which checkpoint `ckpt_path` means, and whether it fits the model asked for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from mnist_lightning.errors import ConfigError
from mnist_lightning.persistence.checkpoints import (
    CheckpointError,
    Location,
    join,
    load_checkpoint,
    local_or_url,
    location_kind,
)

MODEL_KEYS = ("in_features", "hidden", "num_classes", "activation")  # what decides the weights' shapes


def resume_file(ckpt_path: str | Path) -> Location:
    """A checkpoint file as given; for a run or checkpoints/ folder, its `last.ckpt` (any filesystem)."""
    location = local_or_url(ckpt_path)
    kind = location_kind(location)
    if kind == "folder":
        checkpoints = join(location, "checkpoints")
        folder = checkpoints if location_kind(checkpoints) == "folder" else location
        if location_kind(join(folder, "last.ckpt")) == "file":
            return join(folder, "last.ckpt")
        raise CheckpointError(
            f"ckpt_path={ckpt_path}: no last.ckpt in {folder} (give a checkpoint file to resume from)"
        )
    if kind != "file":
        raise CheckpointError(f"ckpt_path={ckpt_path}: no such checkpoint file or run folder")
    return location


def check_resumable(ckpt_path: str | Path, cfg: DictConfig) -> tuple[Location, dict[str, Any]]:
    """(the file, its checkpoint) if it loads safely and holds the model `cfg` describes; else one clear error."""
    path = resume_file(ckpt_path)
    checkpoint = load_checkpoint(path)
    trained = checkpoint["hyper_parameters"].get("net") or {}
    asked = OmegaConf.to_container(cfg.model, resolve=True)
    different = [k for k in MODEL_KEYS if k in trained and trained[k] != asked.get(k)]
    if different:
        was = " ".join(f"model.{k}={trained[k]}" for k in different)
        now = " ".join(f"model.{k}={asked.get(k)}" for k in different)
        raise ConfigError(
            f"ckpt_path={path} was trained with {was}, but this run asks for {now}: resume with the "
            f"checkpoint's settings, or start a new run (init_from={path} copies the weights that fit)"
        )
    return path, checkpoint


def check_resume_setting(cfg: DictConfig) -> None:
    """`ckpt_path`, when set, names a checkpoint that loads and fits this run (before training imports Lightning)."""
    if cfg.get("ckpt_path"):
        check_resumable(cfg.ckpt_path, cfg)
