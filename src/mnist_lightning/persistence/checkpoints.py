"""Finding and safely loading this project's Lightning checkpoints, on any filesystem.

Checkpoints are read with `torch.load(weights_only=True)`: a file that would need to run
code to unpickle is refused, never executed. A location is a local path or, as Lightning
allows, an fsspec URL (`file://`, `memory://`, `s3://` / `gs://` with the user's s3fs / gcsfs):
files, checkpoints/ folders and run folders resolve the same way on every filesystem.
"""

from __future__ import annotations

import io
import pickle
import re
from pathlib import Path
from typing import Any

import torch

from mnist_lightning.errors import UserError


class CheckpointError(UserError):
    """A checkpoint is missing, unreadable, unsafe or not one of this project's."""


STEP_PATTERN = re.compile(r"step(\d+)")
Location = Path | str  # a local path, or an fsspec URL (str) such as memory://bucket/run


def is_url(location: Location) -> bool:
    """An fsspec URL other than a plain local file (`file://` URLs become local paths)."""
    return isinstance(location, str) and "://" in location and not location.startswith("file://")


def local_or_url(location: str | Path) -> Location:
    """A command line's value as a Location: `file:///x` and `~/x` as local paths, other URLs as they are."""
    text = str(location)
    if text.startswith("file://"):
        return Path(text[len("file://") :])
    return text if is_url(text) else Path(text).expanduser()


class _Remote:
    """A location on an fsspec filesystem, with the few path operations checkpoints need."""

    def __init__(self, url: str) -> None:
        import fsspec

        try:
            self.fs, self.path = fsspec.core.url_to_fs(url)
        except (ImportError, ValueError) as exc:  # e.g. s3:// without s3fs installed
            raise CheckpointError(f"{url}: {exc}") from exc
        self.protocol = url.split("://", 1)[0]

    def url(self, path: str) -> str:
        return f"{self.protocol}://{path.lstrip('/')}"


def checkpoint_step(path: Path) -> int | None:
    """Training step from a file name like `step003000.ckpt`, if it has one."""
    match = STEP_PATTERN.search(path.name)
    return int(match.group(1)) if match else None


def list_checkpoints(folder: Location) -> list[Location]:
    """Step checkpoints in `folder` (or its `checkpoints/`), oldest first; `last.ckpt` if none."""
    if is_url(folder):
        remote = _Remote(str(folder))
        base = remote.path.rstrip("/")
        if remote.fs.isdir(f"{base}/checkpoints"):
            base = f"{base}/checkpoints"
        names = [p for p in remote.fs.ls(base, detail=False) if str(p).endswith(".ckpt")]
        stepped = sorted(
            (p for p in names if checkpoint_step(Path(p)) is not None), key=lambda p: checkpoint_step(Path(p))
        )
        return [remote.url(p) for p in (stepped or sorted(names))]
    folder = Path(folder)
    if (folder / "checkpoints").is_dir():
        folder = folder / "checkpoints"
    files = [p for p in folder.glob("*.ckpt") if p.is_file()]
    stepped = sorted((p for p in files if checkpoint_step(p) is not None), key=checkpoint_step)
    return stepped or sorted(files, key=lambda p: p.stat().st_mtime)


def join(location: Location, *parts: str) -> Location:
    return (
        "/".join([str(location).rstrip("/"), *parts]) if is_url(location) else Path(location).joinpath(*parts)
    )


def location_kind(location: Location) -> str | None:
    """ "file", "folder", or None where nothing is (any filesystem)."""
    if is_url(location):
        remote = _Remote(str(location))
        return "file" if remote.fs.isfile(remote.path) else "folder" if remote.fs.isdir(remote.path) else None
    path = Path(location)
    return "file" if path.is_file() else "folder" if path.is_dir() else None


def run_folder_of(checkpoint: Location) -> Location:
    """The run folder a checkpoint file belongs to (`<run>/checkpoints/x.ckpt` -> `<run>`), on any filesystem."""
    if is_url(checkpoint):
        parent = str(checkpoint).rsplit("/", 1)[0]
        return parent.rsplit("/", 1)[0] if parent.endswith("/checkpoints") else parent
    parent = Path(checkpoint).parent
    return parent.parent if parent.name == "checkpoints" else parent


def resolve_checkpoint(location: str | Path) -> Location:
    """A checkpoint file as given, or the newest one in a checkpoint or run folder (any filesystem)."""
    location = local_or_url(location)
    if is_url(location):
        remote = _Remote(location)
        if remote.fs.isfile(remote.path):
            return location
        if not remote.fs.isdir(remote.path):
            raise CheckpointError(f"checkpoint {location} does not exist")
    elif location.is_file():
        return location
    elif not location.is_dir():
        raise CheckpointError(f"checkpoint {location} does not exist")
    found = list_checkpoints(location)
    if not found:
        where = f"{location} (nor in its checkpoints/)"
        raise CheckpointError(f"no *.ckpt files in {where}")
    return found[-1]


def _read(location: Location) -> Any:
    """What torch.load reads: a local path, or the remote file's bytes."""
    if not is_url(location):
        return Path(location)
    remote = _Remote(str(location))
    try:
        with remote.fs.open(remote.path, "rb") as file:
            return io.BytesIO(file.read())
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise CheckpointError(f"cannot read {location}: {exc}") from exc


# First bytes of files users give by mistake; a checkpoint is a zip (torch.save) or a pickle (0x80).
FILE_KINDS = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"BM": "a BMP image",
    b"RIFF": "a WebP image or other RIFF file",
    b"\x1f\x8b": "a gzip file",
    b"{": "a JSON file (an export's model.json?)",
    b"\x08": "an ONNX model (predict and serve take it; evaluate and export need the checkpoint)",
}


def _kind_of(source: Any) -> str | None:
    """What a file that is not a checkpoint looks like, from its first bytes; None if it may be one."""
    if isinstance(source, io.BytesIO):
        head = source.getvalue()[:8]
    else:
        try:
            with open(source, "rb") as file:
                head = file.read(8)
        except OSError:
            return None
    if head.startswith((b"PK\x03\x04", b"\x80")):
        return None
    if not head:
        return "an empty file"
    return next(
        (kind for magic, kind in FILE_KINDS.items() if head.startswith(magic)), "another kind of file"
    )


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint dict, loaded without executing any pickled code; clear errors otherwise."""
    path = local_or_url(path)
    try:
        source = _read(path)
        kind = _kind_of(source)
        if kind is not None:
            raise CheckpointError(
                f"{path} is not a checkpoint: it is {kind}; give a run's .ckpt file or run folder"
            )
        checkpoint = torch.load(source, map_location="cpu", weights_only=True)
    except FileNotFoundError as exc:
        raise CheckpointError(f"checkpoint {path} does not exist (was it pruned?)") from exc
    except CheckpointError:
        raise
    except pickle.UnpicklingError as exc:  # torch's text advises weights_only=False: never repeated here
        names = re.findall(r"(?:unsupported|Unsupported global:) GLOBAL ([\w.]+)", str(exc))
        holds = f" ({', '.join(names)})" if names else ""
        raise CheckpointError(
            f"{path} was refused: it holds pickled objects{holds} that would run code when loaded, and this "
            "project never loads those; only checkpoints of tensors and plain types (as train.py writes) are read"
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
