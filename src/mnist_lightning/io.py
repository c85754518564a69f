"""Result files every program writes: JSON, written atomically so a reader never sees half a file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_json(path: str | Path, record: Any) -> Path:
    """Write `record` as indented JSON via a temporary file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    tmp.replace(path)
    return path

