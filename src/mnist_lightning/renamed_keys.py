"""Keys renamed so that one name means one thing; the old names keep working for one release.

The old name on a command line is rewritten to the new one before Hydra composes, with one notice
line; checkpoints written before a rename keep their old data settings, upgraded when read.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from typing import Any

# "split" is a dataset split (val | test); which training images are held out is data.val_images.
_DATA = {"data.split": "data.val_images", "data.split_seed": "data.val_seed"}
# "format" is a model file format (ckpt | pt2 | onnx); "results_file" is where a program writes its results.
RENAMED: dict[str, dict[str, str]] = {
    "train": _DATA,
    "evaluate": {**_DATA, "output": "results_file"},
    "export": {"output_dir": "export_dir"},
    "predict": {"output": "results_file", "format": "results_as"},
    "serve": {"threads": "torch_threads"},
}
REMOVED_AFTER = "the next release"

# [+|++|~]key[@package][=value], Hydra's override grammar as far as the key goes.
_OVERRIDE = re.compile(
    r"^(?P<prefix>~|\+\+|\+)?(?P<key>[A-Za-z_][\w.]*)(?P<rest>@[\w.]*)?(?P<value>=.*)?$", re.DOTALL
)


def rename_overrides(program: str, argv: list[str], notify: Any = None) -> list[str]:
    """`argv` with old key names replaced by the new ones; one notice line per old name used."""
    renamed = RENAMED.get(program, {})
    notify = notify or (lambda line: print(line, file=sys.stderr))
    result = []
    for arg in argv:
        match = _OVERRIDE.match(arg)
        new = renamed.get(match["key"]) if match and not arg.startswith("-") else None
        if new is None:
            result.append(arg)
            continue
        notify(
            f"note: {match['key']}= is renamed {new}= (the old name works until {REMOVED_AFTER}); "
            f"taking it as {new}="
        )
        result.append(f"{match['prefix'] or ''}{new}{match['rest'] or ''}{match['value'] or ''}")
    return result


def upgrade_data_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """A checkpoint's datamodule settings with the current key names (checkpoints written before a rename)."""
    names = {old.split(".", 1)[1]: new.split(".", 1)[1] for old, new in _DATA.items()}
    return {names.get(key, key): value for key, value in settings.items()}
