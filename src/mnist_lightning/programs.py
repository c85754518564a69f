"""The programs as Hydra apps: what `python src/<program>.py` and the `mnist-<program>` commands run.

Each program's function is imported only once Hydra has composed its config, so `--help` and
config errors answer without importing torch or Lightning.
"""

from __future__ import annotations

import gc
import importlib
import sys
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from mnist_lightning.console import quiet_console, run_hydra_app, run_reporting_errors
from mnist_lightning.errors import UserError, missing_key
from mnist_lightning.hydra_setup import CONFIG_DIR, setup_hydra
from mnist_lightning.numerics import request_thread_count_invariant_gemms
from mnist_lightning.renamed_keys import rename_overrides

PROGRAMS = {  # config name -> the function that runs it, as module:function
    "train": "mnist_lightning.training.run:app",
    "evaluate": "mnist_lightning.evaluation.run:app",
    "export": "mnist_lightning.persistence.export_run:app",
    "predict": "mnist_lightning.inference.run:app",
    "serve": "mnist_lightning.serving.run:app",
}
# Checks that need no Lightning import, run before the program's own imports (seconds sooner).
PRECHECKS = {
    "train": (
        "mnist_lightning.training.config_checks:validate_train_config",
        "mnist_lightning.training.resume:check_resume_setting",
        "mnist_lightning.tracking:check_tracking_store",
    )
}


def launch(config_name: str) -> None:
    """Compose conf/<config_name>.yaml with the command line and run the program on it."""
    request_thread_count_invariant_gemms()  # before torch computes anything (numerics.py)
    sys.argv[1:] = rename_overrides(config_name, sys.argv[1:])  # Hydra reads sys.argv
    setup_hydra(sys.argv[1:])

    @hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name=config_name)
    def main(cfg: DictConfig) -> Any:
        def run() -> Any:
            check_before_importing(config_name, cfg)
            program = resolve(PROGRAMS[config_name])
            quiet_console()  # after the program's imports: `import lightning` adds a handler to remove
            return program(cfg)

        return run_reporting_errors(run)

    run_hydra_app(main, config_name)
    # The program is done: let the interpreter exit without garbage-collecting the torch, Lightning
    # and Hydra objects one by one (a visible share of a short run: README, Speed); exit handlers still run.
    gc.freeze()


def resolve(target: str) -> Any:
    module_name, function_name = target.split(":")
    return getattr(importlib.import_module(module_name), function_name)


def check_before_importing(config_name: str, cfg: DictConfig) -> None:
    """Missing required keys and (train) invalid values, before the program imports torch/Lightning."""
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        raise missing_key(missing[0])
    for check in PRECHECKS.get(config_name, ()):
        resolve(check)(cfg)


def train() -> None:
    launch("train")


def evaluate() -> None:
    launch("evaluate")


def export() -> None:
    launch("export")


def predict() -> None:
    launch("predict")


def serve() -> None:
    launch("serve")


REPORT_EXAMPLES = """examples:
  python src/report.py outputs/multirun/2026-11-26/10-00-00
  python src/report.py outputs/multirun/comparison/2026-11-26/10-00-00 --reference variant=no_ema
  python src/report.py outputs/lr-sweep-2026-11-26 --reference lr=0.8

writes results.csv/.md (a row per configuration, Δ vs the reference with a 95% CI), the figures
that fit the sweep, correlation.json; exit 0, or 2 with one error line."""


def report() -> None:
    """Aggregate a sweep folder (multiruns do it when they end; this is for interrupted or partial ones)."""
    import argparse
    import logging

    parser = argparse.ArgumentParser(
        description="Aggregate a sweep folder into tables and figures, by configuration.",
        epilog=REPORT_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("sweep", help="a multirun folder (holding one folder per job)")
    parser.add_argument(
        "--reference",
        help="the configuration differences are measured against, e.g. lr=0.1 "
        "(default: the first configuration of the sweep)",
    )
    args = parser.parse_args()  # unknown flags: a usage line and exit 2
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    quiet_console()

    def write() -> None:
        from pathlib import Path

        from mnist_lightning.study.report import write_report

        try:
            write_report(args.sweep, args.reference)
        except FileNotFoundError as exc:
            raise UserError(str(exc)) from exc
        print((Path(args.sweep) / "results.md").read_text())

    run_reporting_errors(write)
