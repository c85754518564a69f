"""What every entry point shares: project paths, and turning user errors into one clear line."""

from __future__ import annotations

import hashlib
import logging
import os
import re
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
# Processes that launchers start (submitit, DDP re-launches) must import this package too.
_SRC = str(PROJECT_ROOT / "src")
if _SRC not in os.environ.get("PYTHONPATH", "").split(os.pathsep):
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (_SRC, os.environ.get("PYTHONPATH")) if p)

T = TypeVar("T")


SWEEP_FUNCTIONS = ("range(", "choice(", "interval(", "glob(", "tag(", "shuffle(", "sort(")


def remember_swept_keys() -> None:
    """Note the keys given several values on this command line (`lr=0.1,0.8`, `seed=range(3)`).

    Called by the entry point that parses the user's command line; launchers run jobs in
    other processes (submitit) whose argv is not the user's, and they inherit this variable.
    """
    keys = set()
    for arg in sys.argv[1:]:
        key, sep, value = arg.partition("=")
        if sep and not arg.startswith("-") and ("," in value.strip("[]{}") or value.startswith(SWEEP_FUNCTIONS)):
            keys.add(key.lstrip("+~"))
    os.environ["MNIST_LIGHTNING_SWEPT_KEYS"] = ",".join(sorted(keys))


def job_dirname(overrides: str, sweep_params: Any = None, limit: int = 100) -> str:
    """A multirun job's folder name: the overrides that vary across the sweep (`variant=no_l2,seed=2`).

    Keys swept on the command line (`lr=0.1,0.8`) or in `hydra.sweeper.params` are kept, the
    constant ones dropped; a name still too long is cut, with a hash to stay unique.
    """
    items = re.split(r",(?=[+~]*[\w.]+=)", overrides) if overrides else []
    swept = set(filter(None, os.environ.get("MNIST_LIGHTNING_SWEPT_KEYS", "").split(","))) | set(sweep_params or {})
    kept = [item for item in items if item.split("=", 1)[0].lstrip("+~") in swept] or items
    name = ",".join(kept).replace("/", "_") or "defaults"
    if len(name) <= limit:
        return name
    return f"{name[:limit]}-{hashlib.sha1(name.encode()).hexdigest()[:8]}"


OmegaConf.register_new_resolver("job_dirname", job_dirname, replace=True)
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


def run_hydra_app(main: Callable[[], Any]) -> None:
    """Call a @hydra.main function; errors that happen before or around the task (a run folder
    that cannot be created, a config that does not compose) become one 'error: ...' line, exit 2.

    Hydra would print them as a trimmed traceback; with HYDRA_FULL_ERROR=1 (set here unless the
    user set it) it re-raises them to us instead. Other exceptions keep their full traceback.
    """
    from hydra.errors import HydraException

    user_wants_traceback = os.environ.get("HYDRA_FULL_ERROR") == "1"
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        main()
    except (HydraException, OmegaConfBaseException) as exc:
        if user_wants_traceback:
            raise
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except OSError as exc:
        if user_wants_traceback:
            raise
        print(
            f"error: {exc.strerror or exc}: {exc.filename or ''}. The output folder (hydra.run.dir, "
            "hydra.sweep.dir or outputs/) must be a writable folder, not a file.",
            file=sys.stderr,
        )
        sys.exit(2)


def save_resolved_config(cfg: DictConfig, output_dir: str | Path) -> None:
    """Hydra saves the config with its ${...} unresolved; this copy holds the values the run used."""
    path = Path(output_dir) / ".hydra" / "resolved.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(OmegaConf.to_yaml(cfg, resolve=True))


def hydra_output_dir() -> str:
    from hydra.core.hydra_config import HydraConfig

    return HydraConfig.get().runtime.output_dir


