"""What every entry point shares: turning user errors into one clear line, and a quiet console."""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

from omegaconf.errors import OmegaConfBaseException

from mnist_lightning.errors import UserError
from mnist_lightning.hydra_setup import in_multirun

T = TypeVar("T")
log = logging.getLogger("mnist_lightning")


class _DropTips(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("💡 Tip")


def quiet_third_party_noise() -> None:
    """Drop Lightning's advertising tips and a deprecation warning it raises inside itself."""
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(_DropTips())
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")


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
