"""What every program's command line shares: one clear error line instead of a traceback (exit 2),
the nearest valid key for a typo, and a quiet console whose log lines never break the progress bar."""

from __future__ import annotations

import difflib
import logging
import os
import re
import sys
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from mnist_lightning.errors import UserError
from mnist_lightning.hydra_setup import (
    CONFIG_DIR,
    in_multirun,
    let_config_errors_reach_the_caller,
    users_environment,
)

T = TypeVar("T")
log = logging.getLogger("mnist_lightning")
EXIT_USER_ERROR = 2
EXIT_SOME_JOBS_FAILED = 4  # a multirun ran to its end, but some jobs failed (named in the log and report)
FAILED_JOB_FILE = "failed.json"
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as a shell reports a program whose output pipe was closed  # 128 + SIGINT, as a shell reports a program Ctrl-C stopped
_task_started = False  # set once Hydra has made the run folder and handed us the config
_failed_jobs = 0  # a multirun's failed jobs, counted when it ends (sweep_outcome.py)

# Lightning's console lines that say nothing about this run (hardware it will not use, adverts).
_NOISE = re.compile(
    r"^(💡 Tip|GPU available|TPU available|HPU available|LOCAL_RANK|You are using a CUDA device)"
)


class _DropNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not _NOISE.match(str(record.msg))


class _AboveProgressBar:
    """A console stream that writes through tqdm, so log lines appear above the bar, not inside it."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def write(self, text: str) -> None:
        from tqdm import tqdm

        tqdm.write(text, file=self.stream, end="")

    def flush(self) -> None:
        self.stream.flush()


def quiet_console() -> None:
    """No hardware banner, adverts or warnings that do not concern the run; log lines above the bar."""
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logging.getLogger(name).addFilter(_DropNoise())
    for name in ("onnx_ir", "onnxscript", "torch.onnx", "torch._dynamo", "torch.export"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")
    # Hydra made the run folder (with .hydra/ and the log) just before: nothing of the logger's is deleted.
    warnings.filterwarnings("ignore", message=r".*exists and is not empty.*")
    warnings.filterwarnings("ignore", message=r".*does not have many workers.*")  # data is in memory
    warnings.filterwarnings("ignore", category=FutureWarning, message=r".*weights_only.*")
    # `import lightning` adds a console handler of its own to the "lightning" logger, which also
    # propagates to Hydra's: every line twice. Hydra's handlers (console and log file) are enough.
    lightning_logger = logging.getLogger("lightning")
    for handler in list(lightning_logger.handlers):
        lightning_logger.removeHandler(handler)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream in (sys.stdout, sys.stderr):
            handler.setStream(_AboveProgressBar(handler.stream))


def run_reporting_errors(task: Callable[[], T]) -> T | float:
    """Run `task` (one job); a user error becomes one 'error: ...' line and exit status 2.

    User errors are UserError, OmegaConf's errors and an OSError on a path (its name and the reason).
    In a multirun the job is recorded as failed instead (`failed.json` in its folder, whatever it raised;
    with a bug's traceback), and NaN is returned, so the sweep's other jobs
    run, the report names this one, and the sweep ends with EXIT_SOME_JOBS_FAILED (sweep_outcome.py).
    """
    global _task_started
    _task_started = True
    try:
        with users_environment():
            return task()
    except (UserError, OmegaConfBaseException, OSError) as exc:
        if isinstance(exc, OSError) and not exc.filename:
            raise
        log.error("error: %s", one_line(exc))
        if in_multirun():
            return record_failed_job(one_line(exc))
        discard_unused_run_folder()
        sys.exit(EXIT_USER_ERROR)
    except Exception as exc:
        if not in_multirun():
            raise
        import traceback

        line = f"internal error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        log.error("error: %s (its traceback: %s in the job's folder)", line, FAILED_JOB_FILE)
        return record_failed_job(line, traceback.format_exc())


def discard_unused_run_folder() -> None:
    """A run refused before it did anything leaves no dated folder under outputs/ holding only Hydra's
    .hydra/ and log (the error line was on the console). Folders given with hydra.run.dir are kept."""
    import shutil
    from pathlib import Path

    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized() or HydraConfig.get().output_subdir is None:
        return  # programs that write no run folder of their own (export, predict, serve)
    folder = Path(HydraConfig.get().runtime.output_dir)
    outputs = Path(os.environ.get("MNIST_LIGHTNING_ROOT", ".")).resolve() / "outputs"
    left = {p.name for p in folder.iterdir()} if folder.is_dir() else set()
    if outputs not in folder.resolve().parents or not left <= {".hydra", f"{HydraConfig.get().job.name}.log"}:
        return
    logging.shutdown()  # the log file is closed before it goes
    shutil.rmtree(folder, ignore_errors=True)
    for parent in folder.parents:  # the date folder too, when this was its only run
        if parent == outputs or not parent.is_dir() or any(parent.iterdir()):
            break
        parent.rmdir()


def note_failed_jobs(count: int) -> None:
    global _failed_jobs
    _failed_jobs = count


def record_failed_job(error: str, traceback: str | None = None) -> float:
    """Write failed.json into this multirun job's folder (what study/runs.py reads); NaN for the sweeper."""
    import json

    from hydra.core.hydra_config import HydraConfig

    from mnist_lightning.io import write_text

    folder = HydraConfig.get().runtime.output_dir
    try:
        record = {"status": "failed", "error": error, "traceback": traceback}
        write_text(os.path.join(folder, FAILED_JOB_FILE), json.dumps(record, indent=2) + "\n")
    except OSError as exc:  # the job folder itself is unwritable: its log line is what is left
        log.error("error: could not record the failure in %s: %s", folder, exc.strerror)
    return float("nan")  # Optuna marks a NaN trial failed and goes on


def one_line(exc: BaseException) -> str:
    """A user error's message: OmegaConf's on one line (it adds full_key/object_type lines); an OSError
    as its reason and path."""
    from omegaconf.errors import MissingMandatoryValue

    if isinstance(exc, MissingMandatoryValue):
        return f"{exc.full_key} is required (see --help)"
    if isinstance(exc, OmegaConfBaseException):
        return str(exc).splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, OSError):
        return (
            f"{exc.strerror or exc}: {exc.filename}; check that path (a writable folder, or a file to read)"
        )
    return str(exc)  # our own errors: already what, where and how to fix


def config_keys(config_name: str) -> list[str]:
    """Every key of a program's composed config (dotted), for suggesting the nearest to a typo."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = OmegaConf.to_container(compose(config_name), resolve=False)

    def walk(node: Any, prefix: str) -> list[str]:
        keys = [prefix] if prefix else []
        if isinstance(node, dict):
            for key, value in node.items():
                keys += walk(value, f"{prefix}.{key}" if prefix else str(key))
        return keys

    return walk(cfg, "")


def explain_config_error(exc: BaseException, config_name: str | None) -> str:
    """Hydra's message with its cause kept (e.g. "Key 'max_step' is not in struct") and, for an
    unknown key, the nearest valid one."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    cause = str(exc.__cause__).splitlines()[0].strip() if exc.__cause__ and str(exc.__cause__).strip() else ""
    from hydra.errors import OverrideParseException

    if isinstance(exc, OverrideParseException):  # job folders are named like 0_seed=1: a common case
        return (
            f"{lines[0]}. A value holding '=', ',', spaces or brackets needs quotes, e.g. "
            "'ckpt=\"outputs/multirun/<date>/<time>/0_seed=1\"'"
        )
    unknown = re.search(r"Could not override '([^']+)'", str(exc))
    if not unknown:
        if (
            "Config search path:" in lines
        ):  # an unknown group option: keep the options, drop Hydra's search path
            lines = lines[: lines.index("Config search path:")]
        return " ".join(lines + [cause] * bool(cause and cause not in lines))
    key = unknown.group(1)
    message = f"unknown key {key}: {cause or lines[0]}."
    try:
        close = (
            difflib.get_close_matches(key, config_keys(config_name), n=1, cutoff=0.75) if config_name else []
        )
    except Exception:  # noqa: BLE001 - a suggestion is a courtesy; never hide the real error behind another
        close = []
    if close:
        message += f" Did you mean {close[0]}?"
    append = next((line for line in lines if line.startswith("To append")), "")
    return f"{message} ({append})" if append else message


def run_hydra_app(main: Callable[[], Any], config_name: str | None = None) -> None:
    """Call a @hydra.main function; errors that happen before or around the task (a run folder
    that cannot be created, a config that does not compose, an unknown key) become one
    'error: ...' line, exit 2, and a Ctrl-C one line, exit 130.

    Hydra would print them as a trimmed traceback; with HYDRA_FULL_ERROR=1 (set here unless the
    user set it) it re-raises them to us instead. Other exceptions keep their full traceback.
    """
    from hydra.errors import HydraException

    user_wants_traceback = let_config_errors_reach_the_caller()
    try:
        main()
        if _failed_jobs:
            sys.exit(EXIT_SOME_JOBS_FAILED)
    except KeyboardInterrupt:  # Ctrl-C outside training's own handling (imports, loading, start-up, exit)
        if user_wants_traceback:
            raise
        print("interrupted (Ctrl-C): nothing more was done", file=sys.stderr)
        logging.shutdown()  # the log files are complete; then no exit handler prints after the line
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_INTERRUPTED)
    except (HydraException, OmegaConfBaseException) as exc:
        if user_wants_traceback:
            raise
        print(f"error: {explain_config_error(exc, config_name)}", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
    except ValueError as exc:  # Hydra cannot open the run's log file: the run folder is not writable
        if user_wants_traceback or _task_started or "Unable to configure handler" not in str(exc):
            raise
        print(
            "error: Hydra cannot create the run's log file (the run folder is not writable, or a folder "
            "has the log's name); choose another hydra.run.dir or hydra.sweep.dir",
            file=sys.stderr,
        )
        sys.exit(EXIT_USER_ERROR)
    except BrokenPipeError:  # `--help | head`: the reader has gone; nothing to say, and no one to say it to
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(EXIT_BROKEN_PIPE)
    except OSError as exc:
        if user_wants_traceback or _task_started:  # inside the program: not a run-folder problem
            raise
        print(
            f"error: {exc.strerror or exc}: {exc.filename or ''}. The output folder (hydra.run.dir, "
            "hydra.sweep.dir or outputs/) must be a writable folder, not a file.",
            file=sys.stderr,
        )
        sys.exit(EXIT_USER_ERROR)
