"""Finding and safely loading this project's Lightning checkpoints.

Checkpoints are read with `torch.load(weights_only=True)`: a file that would need to run
code to unpickle is refused, never executed.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any

import torch

from mnist_lightning.errors import UserError


class CheckpointError(UserError):
    """A checkpoint is missing, unreadable, unsafe or not one of this project's."""


STEP_PATTERN = re.compile(r"step(\d+)")


def checkpoint_step(path: Path) -> int | None:
    """Training step from a file name like `step003000.ckpt`, if it has one."""
    match = STEP_PATTERN.search(path.name)
    return int(match.group(1)) if match else None


def list_checkpoints(folder: Path) -> list[Path]:
    """Step checkpoints in `folder` (or its `checkpoints/`), oldest first; `last.ckpt` if none."""
    folder = Path(folder)
    if (folder / "checkpoints").is_dir():
        folder = folder / "checkpoints"
    files = [p for p in folder.glob("*.ckpt") if p.is_file()]
    stepped = sorted((p for p in files if checkpoint_step(p) is not None), key=checkpoint_step)
    return stepped or sorted(files, key=lambda p: p.stat().st_mtime)


def run_folder_of(checkpoint_path: Path) -> Path:
    """The run folder a checkpoint file belongs to (`<run>/checkpoints/x.ckpt` -> `<run>`)."""
    parent = checkpoint_path.parent
    return parent.parent if parent.name == "checkpoints" else parent


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint file as given, or the newest one in a checkpoint or run folder."""
    path = Path(path).expanduser()
    if path.is_file():
        return path
    if path.is_dir():
        found = list_checkpoints(path)
        if not found:
            raise CheckpointError(f"no *.ckpt files in {path} (nor in {path / 'checkpoints'})")
        return found[-1]
    raise CheckpointError(f"checkpoint {path} does not exist")


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint dict, loaded without executing any pickled code; clear errors otherwise."""
    path = Path(path)
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as exc:
        raise CheckpointError(f"checkpoint {path} does not exist (was it pruned?)") from exc
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"{path} was refused: it holds pickled objects that would have to run code to load "
            f"(only tensors and plain types are accepted). Details: {str(exc).splitlines()[0]}"
        ) from exc
    except Exception as exc:  # torch raises RuntimeError, EOFError, KeyError, ... for foreign bytes
        raise CheckpointError(
            f"{path} is not a readable checkpoint (truncated, still being written, or another "
            f"kind of file): {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        ) from exc
    if (
        not isinstance(checkpoint, dict)
        or "state_dict" not in checkpoint
        or "hyper_parameters" not in checkpoint
    ):
        raise CheckpointError(
            f"{path} is not a Lightning checkpoint of this project (no state_dict/hyper_parameters)"
        )
    return checkpoint
