"""The tutorial's Saver tricks: EMA shadows as plain weights, partial and renamed restores."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mnist_lightning.errors import UserError
from mnist_lightning.models import MLP
from mnist_lightning.persistence.checkpoints import CheckpointError, load_checkpoint, resolve_checkpoint

WEIGHT_PREFIXES = {"ema": "ema.module.", "raw": "net."}


class RestoreError(UserError):
    """A requested restore does not fit: missing names, wrong shapes, no EMA in the checkpoint."""


def has_ema(checkpoint: dict[str, Any]) -> bool:
    return any(k.startswith(WEIGHT_PREFIXES["ema"]) for k in checkpoint["state_dict"])


def default_weights(checkpoint: dict[str, Any]) -> str:
    return "ema" if has_ema(checkpoint) else "raw"


def mlp_state_dict(checkpoint: dict[str, Any], weights: str = "ema") -> dict[str, torch.Tensor]:
    """The MLP's parameters under their plain names (`layer1.weight`), from EMA shadows or raw weights.

    The equivalent of TF's `ema.variables_to_restore()`: shadow values restored as the variables.
    """
    if weights not in WEIGHT_PREFIXES:
        raise RestoreError(f"weights={weights!r} must be 'ema' or 'raw'")
    if weights == "ema" and not has_ema(checkpoint):
        raise RestoreError(
            "weights=ema asked for, but this checkpoint was trained with ema=off (use weights=raw)"
        )
    prefix = WEIGHT_PREFIXES[weights]
    return {k[len(prefix) :]: v for k, v in checkpoint["state_dict"].items() if k.startswith(prefix)}


def mlp_from_checkpoint(checkpoint: dict[str, Any], weights: str = "ema", source: str = "checkpoint") -> MLP:
    """A plain MLP (no Lightning, no EMA wrapper) holding the chosen weights; a `CheckpointError` naming
    `source` when the checkpoint's hyper-parameters or weights do not describe this project's MLP."""
    try:
        net = MLP(**(checkpoint["hyper_parameters"].get("net") or {}))
    except (TypeError, ValueError) as exc:
        raise CheckpointError(
            f"{source}: its hyper-parameters do not describe this project's model ({exc})"
        ) from exc
    try:
        net.load_state_dict(mlp_state_dict(checkpoint, weights))
    except RuntimeError as exc:
        raise CheckpointError(f"{source}: weights do not fit the model it describes: {exc}") from exc
    return net.eval()


def load_mlp(source: str | Path, weights: str | None = None) -> tuple[MLP, dict[str, Any], str]:
    """(plain MLP, checkpoint, weights used) from a checkpoint file or folder; EMA when it has one."""
    checkpoint = load_checkpoint(resolve_checkpoint(source))
    weights = weights or default_weights(checkpoint)
    return mlp_from_checkpoint(checkpoint, weights, str(source)), checkpoint, weights


@dataclass
class RestoreReport:
    loaded: dict[str, str] = field(default_factory=dict)  # target name -> source name
    initialised: list[str] = field(default_factory=list)  # target names left as initialised
    ignored: list[str] = field(default_factory=list)  # source names not used

    def summary(self) -> str:
        loaded = ", ".join(t if t == s else f"{t} <- {s}" for t, s in self.loaded.items()) or "none"
        return (
            f"loaded: {loaded}; left initialised: {', '.join(self.initialised) or 'none'}; "
            f"ignored: {', '.join(self.ignored) or 'none'}"
        )


def _pairs(
    targets: Mapping[str, torch.Tensor], source: Mapping[str, torch.Tensor], mapping: Mapping[str, str] | None
) -> dict[str, str]:
    if not mapping:  # same names, wherever both sides have them
        return {name: name for name in targets if name in source}
    pairs = {}
    for target_prefix, source_prefix in mapping.items():
        matched = [n for n in targets if n == target_prefix or n.startswith(target_prefix + ".")]
        if not matched:
            raise RestoreError(
                f"init_map target {target_prefix!r} names no parameter; the model has {sorted(targets)}"
            )
        for name in matched:
            source_name = source_prefix + name[len(target_prefix) :]
            if source_name not in source:
                raise RestoreError(
                    f"init_map {target_prefix!r} -> {source_prefix!r}: source has no {source_name!r}; "
                    f"it has {sorted(source)}"
                )
            pairs[name] = source_name
    return pairs


@torch.no_grad()
def restore_parameters(
    model: nn.Module, source: Mapping[str, torch.Tensor], mapping: Mapping[str, str] | None = None
) -> RestoreReport:
    """Copy a subset of `source` into `model`, optionally renamed (`mapping`: target prefix -> source prefix)."""
    targets = dict(model.named_parameters())
    pairs = _pairs(targets, source, mapping)
    mismatched = [
        f"{t} {tuple(targets[t].shape)} <- {s} {tuple(source[s].shape)}"
        for t, s in pairs.items()
        if targets[t].shape != source[s].shape
    ]
    if mismatched:
        raise RestoreError("shape mismatch on restore: " + "; ".join(mismatched))
    for target, source_name in pairs.items():
        targets[target].copy_(source[source_name])
    used = set(pairs.values())
    return RestoreReport(
        loaded=pairs,
        initialised=[n for n in targets if n not in pairs],
        ignored=[n for n in source if n not in used],
    )
