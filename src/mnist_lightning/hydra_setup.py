"""Hydra glue shared by the programs: project paths, the job-folder resolver, run-folder helpers.

Nothing here happens at import: entry points call `setup_hydra()` before Hydra starts.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from mnist_lightning.io import write_text

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = PACKAGE_DIR.parents[1]  # the checkout, when running from one (src/mnist_lightning/..)
IN_CHECKOUT = (PROJECT_ROOT / "conf").is_dir() and (PROJECT_ROOT / "src" / "mnist_lightning").is_dir()
# A wheel carries the configs inside the package (setup.py copies conf/ there).
CONFIG_DIR = str(PROJECT_ROOT / "conf" if IN_CHECKOUT else PACKAGE_DIR / "conf")
SWEPT_KEYS_ENV = "MNIST_LIGHTNING_SWEPT_KEYS"


def setup_hydra(argv: list[str] | None = None) -> None:
    """Prepare this process (and the job processes launchers start) for the configs in conf/.

    - `MNIST_LIGHTNING_ROOT`: conf/ puts outputs/ and data/ under the checkout, wherever the
      command is run from; an installed package puts them under the current folder;
    - in a checkout, `PYTHONPATH` gains src/, so launcher processes (submitit, DDP re-launches)
      import this package;
    - the swept keys of the command line (`argv`), which name a multirun's job folders;
    - the `job_dirname` resolver used by `hydra.sweep.subdir`.
    """
    os.environ.setdefault("MNIST_LIGHTNING_ROOT", str(PROJECT_ROOT if IN_CHECKOUT else Path.cwd()))
    src = str(PROJECT_ROOT / "src")
    if IN_CHECKOUT and src not in os.environ.get("PYTHONPATH", "").split(os.pathsep):
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p)
    if argv is not None:
        os.environ[SWEPT_KEYS_ENV] = ",".join(sorted(swept_keys(argv)))
    register_resolvers()


FULL_ERROR = "HYDRA_FULL_ERROR"
_full_error_set_here = False  # whether HYDRA_FULL_ERROR=1 is ours (console.py) rather than the user's


def let_config_errors_reach_the_caller() -> bool:
    """HYDRA_FULL_ERROR=1 makes Hydra re-raise config errors, so the CLI can print them as one line.
    Returns whether the user had set it (then they want Hydra's tracebacks)."""
    global _full_error_set_here
    if os.environ.get(FULL_ERROR) == "1":
        return not _full_error_set_here
    os.environ[FULL_ERROR] = "1"
    _full_error_set_here = True
    return False


@contextmanager
def users_environment() -> Iterator[None]:
    """Within: os.environ as the user gave it, so the processes a program starts (DDP re-launches,
    the Optuna re-train) inherit nothing the CLI set for itself."""
    ours = _full_error_set_here and os.environ.pop(FULL_ERROR, None) is not None
    try:
        yield
    finally:
        if ours:
            os.environ[FULL_ERROR] = "1"


_installed_command = False  # set by the mnist-* commands (programs.run_entry_point)


def use_installed_command_names() -> None:
    global _installed_command
    _installed_command = True


def command_name(program: str) -> str:
    """How the user runs `program`: `mnist-train` from an installed command, else `python src/train.py`
    (what --help, examples and resume hints print)."""
    return f"mnist-{program}" if _installed_command else f"python src/{program}.py"


def register_resolvers() -> None:
    OmegaConf.register_new_resolver("command", command_name, replace=True)
    OmegaConf.register_new_resolver("job_dirname", job_dirname, replace=True)
    OmegaConf.register_new_resolver("tracking_name", tracking_name, replace=True)


def tracking_name(kind: str) -> str:
    """Names for an experiment tracker: `experiment` is the sweep's folder for a multirun (its runs
    side by side) and "runs" for single runs; `run` is the job's folder (or the run's date/time)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return "runs" if kind == "experiment" else "run"
    hydra = HydraConfig.get()
    outputs = Path(os.environ.get("MNIST_LIGHTNING_ROOT", ".")) / "outputs"
    if kind == "experiment":
        return f"sweep {_relative(Path(hydra.sweep.dir), outputs)}" if in_multirun() else "runs"
    return _relative(Path(hydra.runtime.output_dir), Path(hydra.sweep.dir) if in_multirun() else outputs)


def _relative(path: Path, base: Path) -> str:
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(path)


def swept_keys(argv: list[str]) -> set[str]:
    """Keys given several values on a command line (`lr=0.1,0.8`, `seed=range(3)`, `choice(...)`), as
    Hydra's own override parser reads them: a list (`model.hidden=[500,100]`) or a quoted comma is one value.
    Arguments that do not parse are left to Hydra, which reports them."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    parser = OverridesParser.create()
    keys = set()
    for arg in argv:
        if arg.startswith("-"):
            continue
        try:
            override = parser.parse_override(arg)
        except HydraException:
            continue
        if override.is_sweep_override():
            keys.add(override.key_or_group)
    return keys


def short_value(text: str, digits: int = 4) -> str:
    """A float written with at most `digits` significant digits (`0.4461709044674453` -> `0.4462`,
    `1.1437481734488664e-07` -> `1.144e-07`); anything else as it is. For names and tables only:
    full values stay in results.csv and best_overrides.txt."""
    try:
        number = float(text)
    except (TypeError, ValueError):
        return text
    short = f"{number:.{digits}g}"
    return text if float(short) == number else short  # nothing to cut: as written (0.8, 200, 1000000.0)


def job_dirname(overrides: str, sweep_params: Any = None, limit: int = 100) -> str:
    """A multirun job's folder name: the overrides that vary across the sweep (`variant=no_l2,seed=2`).

    Keys swept on the command line (`lr=0.1,0.8`) or in `hydra.sweeper.params` are kept, the
    constant ones dropped; a name still too long is cut, with a hash to stay unique.
    """
    items = re.split(r",(?=[+~]*[\w.]+=)", overrides) if overrides else []
    swept = set(filter(None, os.environ.get(SWEPT_KEYS_ENV, "").split(","))) | set(sweep_params or {})
    kept = [item for item in items if item.split("=", 1)[0].lstrip("+~") in swept] or items
    kept = [f"{key}={short_value(value)}" for key, _, value in (item.partition("=") for item in kept)]
    name = ",".join(kept).replace("/", "_") or "defaults"
    if len(name) <= limit:
        return name
    return f"{name[:limit]}-{hashlib.sha1(name.encode()).hexdigest()[:8]}"


def in_multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def chosen_option(group: str) -> str | None:
    """The option Hydra composed for a config group (`variant=no_l2` -> "no_l2"); None outside a Hydra app."""
    from hydra.core.hydra_config import HydraConfig

    return HydraConfig.get().runtime.choices.get(group) if HydraConfig.initialized() else None


def hydra_output_dir() -> str:
    from hydra.core.hydra_config import HydraConfig

    return HydraConfig.get().runtime.output_dir


def save_resolved_config(cfg: DictConfig, output_dir: str | Path) -> None:
    """Hydra saves the config with its ${...} unresolved; this copy holds the values the run used."""
    path = Path(output_dir) / ".hydra" / "resolved.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, OmegaConf.to_yaml(cfg, resolve=True))


def parallel_jobs(launcher: Any = None) -> int:
    """How many jobs of this sweep run at once on this machine (joblib's n_jobs; 1 otherwise);
    `launcher`: a sweep's `hydra.launcher` config, else the running job's."""
    from hydra.core.hydra_config import HydraConfig

    if launcher is None:
        if not in_multirun():
            return 1
        launcher = HydraConfig.get().launcher
    if "Joblib" not in str(launcher.get("_target_", "")):
        return 1
    n_jobs = launcher.get("n_jobs") or 1
    return (os.cpu_count() or 1) if n_jobs < 0 else int(n_jobs)
