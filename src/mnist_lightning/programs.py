"""What every program's entry point shares: the process set-up before Hydra starts (`launch`), the
checks and one-line errors around each job (`job`), and the installed `mnist-*` commands.

The entry points are `src/<program>.py`: each is a `@hydra.main` function that imports its program
inside, so `--help` and config errors answer without importing torch or Lightning. A wheel carries
them (setup.py copies them into the package, as it does conf/), and the `mnist-<program>` commands
run the same files.
"""

from __future__ import annotations

import functools
import importlib
import runpy
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from mnist_lightning.console import quiet_console, run_hydra_app, run_reporting_errors
from mnist_lightning.errors import UserError, missing_key
from mnist_lightning.hydra_setup import (
    CONFIG_DIR,
    IN_CHECKOUT,
    PACKAGE_DIR,
    PROJECT_ROOT,
    command_name,
    setup_hydra,
    use_installed_command_names,
)
from mnist_lightning.numerics import request_thread_count_invariant_gemms
from mnist_lightning.output_places import check_output_places
from mnist_lightning.renamed_keys import rename_overrides
from mnist_lightning.schema import check_config

__all__ = ["CONFIG_DIR", "job", "launch"]

# Checks beyond the schema's (schema.py) that need no Lightning import, run before the program's own
# imports (seconds sooner).
PRECHECKS = {
    "train": (
        "mnist_lightning.training.config_checks:refuse_relaunching_strategy_in_multirun",
        "mnist_lightning.training.resume:check_resume_setting",
        "mnist_lightning.tracking:check_tracking_store",
    )
}
# Where the entry points are: src/ in a checkout (and an editable install), else the wheel's copy.
ENTRY_POINTS = PROJECT_ROOT / "src" if IN_CHECKOUT else PACKAGE_DIR / "entry_points"


def launch(main: Callable[[], Any], config_name: str) -> None:
    """Run a `@hydra.main` function for conf/<config_name>.yaml with this process prepared for it."""
    request_thread_count_invariant_gemms()  # before torch computes anything (numerics.py)
    sys.argv[1:] = rename_overrides(config_name, sys.argv[1:])  # Hydra reads sys.argv
    refuse_empty_output_folders(sys.argv[1:])
    refuse_conflicting_modes(sys.argv[1:])
    setup_hydra(sys.argv[1:])
    run_hydra_app(main, config_name)


def refuse_empty_output_folders(argv: list[str]) -> None:
    """`hydra.run.dir=` (empty) would make the current folder the run folder: refused before Hydra
    writes anything there."""
    for arg in argv:
        key, equals, value = arg.partition("=")
        if equals and key.lstrip("+~") in ("hydra.run.dir", "hydra.sweep.dir") and not value.strip(" '\""):
            print(
                f"error: {key}= is empty: the run would write into the current folder; "
                f"give a folder, e.g. {key}=outputs/my-run",
                file=sys.stderr,
            )
            sys.exit(2)


def refuse_conflicting_modes(argv: list[str]) -> None:
    """Hydra refuses `-m` with `--cfg` (or --info) in a traceback: one line, and what does work."""
    flags = {a.split("=", 1)[0] for a in argv if a.startswith("-")}
    shows = flags & {"--cfg", "-c", "--info", "-i"}
    if flags & {"-m", "--multirun"} and shows:
        print(
            f"error: -m and {min(shows)} cannot be combined: {min(shows)} shows one job's config; "
            "run it without -m and with one value per key (e.g. lr=0.1 for lr=0.1,0.8)",
            file=sys.stderr,
        )
        sys.exit(2)


def job(program: Callable[[DictConfig], Any]) -> Callable[[DictConfig], Any]:
    """Around each job (a single run, or every job of a sweep): missing required keys and the
    program's pre-checks before its imports, then its user errors as one line (exit 2)."""

    @functools.wraps(program)
    def checked(cfg: DictConfig) -> Any:
        def run() -> Any:
            from hydra.core.hydra_config import HydraConfig

            check_before_importing(HydraConfig.get().job.config_name, cfg)
            return program(cfg)

        return run_reporting_errors(run)

    return checked


def resolve(target: str) -> Any:
    module_name, function_name = target.split(":")
    return getattr(importlib.import_module(module_name), function_name)


def check_before_importing(config_name: str, cfg: DictConfig) -> None:
    """Missing required keys, the schema's types and ranges, the program's own pre-checks and every
    output place, before the program imports torch/Lightning."""
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        raise missing_key(missing[0])
    check_config(config_name, cfg)
    for check in PRECHECKS.get(config_name, ()):
        resolve(check)(cfg)
    check_output_places(config_name, cfg)


def run_entry_point(program: str) -> None:
    """An installed `mnist-<program>` command: the entry point `src/<program>.py`, as `python` runs it."""
    use_installed_command_names()
    runpy.run_path(str(ENTRY_POINTS / f"{program}.py"), run_name="__main__")


def train() -> None:
    run_entry_point("train")


def evaluate() -> None:
    run_entry_point("evaluate")


def export() -> None:
    run_entry_point("export")


def predict() -> None:
    run_entry_point("predict")


def serve() -> None:
    run_entry_point("serve")


REPORT_EXAMPLES = """examples:
  {report} outputs/multirun/2026-11-26/10-00-00
  {report} outputs/multirun/comparison/2026-11-26/10-00-00 --reference variant=no_ema
  {report} outputs/lr-sweep-2026-11-26 --reference lr=0.8 --rewrite
  {report} outputs/study-2026-12-03/mnist --tf1 outputs/study-2026-12-03/tf1-mnist/summary.jsonl \\
      --harder outputs/study-2026-12-03/fashion_mnist --margin 0.001

writes results.csv/.md (a row per configuration, Δ vs the reference, paired by seed and unpaired, with
95% CIs and a verdict), the figures that fit the sweep, correlation.json; a folder that already has a
results.md gets it printed, not replaced, unless --rewrite; exit 0, or 2 with one error line."""


def report() -> None:
    """Aggregate a sweep folder (multiruns do it when they end; this is for interrupted or partial ones)."""
    import argparse
    import logging

    parser = argparse.ArgumentParser(
        description="Aggregate a sweep folder into tables and figures, by configuration.",
        epilog=REPORT_EXAMPLES.format(report=command_name("report")),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("sweep", help="a multirun folder (holding one folder per job)")
    parser.add_argument(
        "--reference",
        help="the configuration differences are measured against, e.g. lr=0.1 "
        "(default: the first configuration of the sweep)",
    )
    parser.add_argument(
        "--margin",
        type=float,
        help="a difference whose 95%% interval lies within ±margin 'matters little' (default 0.001: 0.1 points)",
    )
    parser.add_argument("--tf1", help="the TF1 program's summary.jsonl (benchmarks/tf1_study.py): its column")
    parser.add_argument("--harder", help="the same study on a harder dataset: judges the tutorial's claim 2")
    parser.add_argument(
        "--rewrite",
        action="store_true",
        help="replace an existing results.md and its figures (without it, an existing report is only printed)",
    )
    args = parser.parse_args()  # unknown flags: a usage line and exit 2
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    quiet_console()

    def write() -> None:
        from mnist_lightning.study.aggregate import MARGIN
        from mnist_lightning.study.report import build_report, write_report

        margin = MARGIN if args.margin is None else args.margin
        if not 0 <= margin < 1:
            raise UserError(f"--margin {margin}: give an accuracy difference in [0, 1), e.g. 0.001")
        options = {"reference": args.reference, "margin": margin, "tf1": args.tf1, "harder": args.harder}
        try:
            if (Path(args.sweep) / "results.md").is_file() and not args.rewrite:
                print(build_report(args.sweep, **options)["text"])
                logging.getLogger(__name__).info(
                    "%s/results.md exists and is left as it is; --rewrite replaces it", args.sweep
                )
                return
            print(write_report(args.sweep, **options)["text"])
        except FileNotFoundError as exc:
            raise UserError(str(exc)) from exc

    run_reporting_errors(write)
