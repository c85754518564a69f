"""What every entry point shares: project paths, and turning user errors into one clear line."""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from mnist_lightning.errors import UserError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = str(PROJECT_ROOT / "conf")
# conf/ places outputs/ and data/ under the project root, wherever the command is run from.
os.environ.setdefault("MNIST_LIGHTNING_ROOT", str(PROJECT_ROOT))

T = TypeVar("T")


def short_dirname(overrides: str, limit: int = 100) -> str:
    """A job folder name from its overrides, cut (with a hash to stay unique) below path limits."""
    name = overrides.replace("/", "_") or "defaults"
    if len(name) <= limit:
        return name
    return f"{name[:limit]}-{hashlib.sha1(name.encode()).hexdigest()[:8]}"


OmegaConf.register_new_resolver("short_dirname", short_dirname, replace=True)
log = logging.getLogger("mnist_lightning")


class _DropTips(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("💡 Tip")


def quiet_third_party_noise() -> None:
    """Drop Lightning's advertising tips and a deprecation warning it raises inside itself."""
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(_DropTips())
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")


def in_multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def run_reporting_errors(task: Callable[[], T]) -> T:
    """Run `task`; a UserError becomes one 'error: ...' line and exit status 2.

    In a multirun the error is re-raised instead, so Hydra records this job as failed and
    still runs (and reports) the others.
    """
    try:
        return task()
    except (UserError, OmegaConfBaseException) as exc:
        log.error("error: %s", exc)
        if in_multirun():
            raise
        sys.exit(2)


def save_resolved_config(cfg: DictConfig, output_dir: str | Path) -> None:
    """Hydra saves the config with its ${...} unresolved; this copy holds the values the run used."""
    path = Path(output_dir) / ".hydra" / "resolved.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(OmegaConf.to_yaml(cfg, resolve=True))


def hydra_output_dir() -> str:
    from hydra.core.hydra_config import HydraConfig

    return HydraConfig.get().runtime.output_dir


