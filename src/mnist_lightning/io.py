"""Result files every program writes, each written atomically: a reader (or a crash, or a kill)
finds the old file or the new one, never half of one."""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


def _default_mode() -> int:
    """The permissions a plain open() would give a new file (mkstemp's are 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextmanager
def atomic_write(path: str | Path, newline: str | None = None) -> Iterator[IO[str]]:
    """A text handle on a unique temporary file beside `path`; on success it is flushed, fsynced
    and renamed over `path`; on any error (or interrupt) it is removed and `path` is untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline=newline) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, _default_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: str | Path, text: str) -> Path:
    with atomic_write(path) as handle:
        handle.write(text)
    return Path(path)


def write_json(path: str | Path, record: Any) -> Path:
    """`record` as indented JSON."""
    return write_text(path, json.dumps(record, indent=2) + "\n")


def write_csv(path: str | Path, fieldnames: list[str], rows: Iterable[dict[str, Any]]) -> Path:
    """Rows of dicts as CSV with a header; keys not in `fieldnames` are left out."""
    with atomic_write(path, newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fieldnames, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return Path(path)
