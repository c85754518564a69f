"""One training run from a composed config: build, fit, test, write metrics.json."""

from __future__ import annotations

import logging
import math
import os
import signal
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.utils import instantiate
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig

from mnist_lightning.data.datamodule import MNISTDataModule
from mnist_lightning.hydra_setup import (
    chosen_option,
    hydra_output_dir,
    in_multirun,
    parallel_jobs,
    save_resolved_config,
)
from mnist_lightning.io import write_json
from mnist_lightning.machine import describe_machine
from mnist_lightning.models.mlp_gradients import COMPUTE_DTYPES
from mnist_lightning.training import tracking
from mnist_lightning.training.callbacks import (
    TrainingClock,
    TrainingDiverged,
    ValidationHistory,
    scalar_metrics,
)
from mnist_lightning.training.config_checks import validate_train_config
from mnist_lightning.training.module import WEIGHT_LABELS
from mnist_lightning.training.resume import check_resumable
from mnist_lightning.training.threads import CpuThreadGovernor
from mnist_lightning.training.warm_start import warm_start

log = logging.getLogger(__name__)
DTYPE_NAMES = {dtype: name for name, dtype in COMPUTE_DTYPES.items()}


def instantiate_all(group: DictConfig | None) -> list[Any]:
    """Objects for every entry with a `_target_` in a callbacks/logger group."""
    if not group:
        return []
    return [instantiate(node) for node in group.values() if node and "_target_" in node]


def steps_per_call(cfg: DictConfig, datamodule: MNISTDataModule, checkpoint: dict[str, Any] | None) -> int:
    """Tutorial steps per `training_step` call, up to `steps_per_call`: a resumed run keeps its checkpoint's
    (Lightning counts calls); else the largest number dividing the setting, the steps of an epoch, the
    validation and logging intervals and `max_steps`, so all of them fall on the same steps; 1 with several
    processes or `overfit_batches` (both count batches per call)."""
    if checkpoint is not None:
        return checkpoint.get(type(datamodule).__qualname__, {}).get("batches_per_call", 1)
    trainer = cfg.trainer
    if str(trainer.get("strategy", "auto")).startswith("ddp") or trainer.get("devices", 1) != 1:
        return 1
    if trainer.get("overfit_batches"):
        return 1
    intervals = (trainer.val_check_interval, trainer.log_every_n_steps, trainer.max_steps)
    intervals += (datamodule.train_batches_per_epoch(),)
    return math.gcd(cfg.steps_per_call, *intervals)


def build(
    cfg: DictConfig,
    extra_callbacks: list[L.Callback] | None = None,
    datamodule: MNISTDataModule | None = None,
    checkpoint: dict[str, Any] | None = None,
) -> tuple[MNISTDataModule, L.LightningModule, L.Trainer, ValidationHistory]:
    """DataModule, LightningModule and Trainer from the config (plain-type hparams via `_convert_`).

    The trainer always has a `ValidationHistory` (returned) and a `TrainingClock` (`training_clock`).
    Lightning counts `training_step` calls; the config counts steps: each call runs
    `datamodule.batches_per_call` of them, so the trainer's intervals are divided by that.
    """
    datamodule = datamodule or instantiate(cfg.data, _convert_="all")
    datamodule.batches_per_call = steps = steps_per_call(cfg, datamodule, checkpoint)
    module = instantiate(cfg.module, _convert_="all")
    history = ValidationHistory()
    trainer = instantiate(
        cfg.trainer,
        val_check_interval=cfg.trainer.val_check_interval // steps,
        log_every_n_steps=cfg.trainer.log_every_n_steps // steps,
        callbacks=[
            *instantiate_all(cfg.get("callbacks")),
            history,
            TrainingClock(),
            *(extra_callbacks or []),
        ],
        logger=instantiate_all(cfg.get("logger")) or False,
    )
    return datamodule, module, trainer, history


def training_clock(trainer: L.Trainer) -> TrainingClock:
    return next(c for c in trainer.callbacks if isinstance(c, TrainingClock))


def process_age_s() -> float | None:
    """Seconds since this process started (interpreter start-up and imports included); Linux only."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return round(uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK"), 2)
    except (OSError, ValueError, IndexError):
        return None


def summarize(
    trainer: L.Trainer,
    module: L.LightningModule,
    history: ValidationHistory,
    cfg: DictConfig,
    wall_time: float,
) -> dict[str, Any]:
    """The run's result record: final val/test accuracies, history, timing, identity."""
    main = module.reported_weights
    last_val = history.records[-1] if history.records else {}
    val_key = f"val_acc_{main}"
    summary: dict[str, Any] = {
        "status": "completed",
        "step": trainer.global_step,
        "weights": main,
        "val_acc": last_val.get(val_key),
        "best_val_acc": max((r[val_key] for r in history.records if val_key in r), default=None),
        "test_acc": None,
        **{k: v for k, v in last_val.items() if k.startswith("val_")},
        "wall_time_s": round(wall_time, 2),
        **what_ran(trainer, module),
        "seed": cfg.seed,
        "variant": chosen_option("variant"),
        "history": history.records,
    }
    return summary


def what_ran(trainer: L.Trainer, module: L.LightningModule) -> dict[str, Any]:
    """The dtype the training GEMMs really used (fp32 where bf16 fell back), the CPU threads, the machine."""
    governor = next((c for c in trainer.callbacks if isinstance(c, CpuThreadGovernor)), None)
    threads = torch.get_num_threads()
    return {
        "compute_dtype": DTYPE_NAMES[module.compute_dtype],
        "cpu_threads": threads,
        "threads_used": sorted(governor.thread_counts) if governor else [threads],
        "thread_switches": governor.switches if governor else 0,
        "thread_policy": governor.policy if governor else "fixed: torch_threads is set",
        "mkl_cbwr": os.environ.get("MKL_CBWR"),
        "machine": describe_machine(module.device),
    }


def cpu_threads_per_job() -> int:
    """The machine's cores shared among the jobs running at once: OpenMP threads that wait for a core
    another job holds spin and collapse both jobs (~0.2x each on 2 cores), so never more than that."""
    return max(1, (os.cpu_count() or 1) // parallel_jobs())


def describe_run(cfg: DictConfig, output_dir: Path, resume: Path | None) -> str:
    """The one line a run starts with: where it writes, what it reads, which model, how long."""
    widths = "-".join(str(w) for w in [cfg.model.in_features, *cfg.model.hidden, cfg.model.num_classes])
    start = f", resuming from {resume}" if resume else ""
    return (
        f"Run folder {output_dir} | data {cfg.data.name} from {cfg.data.root} | model {widths} "
        f"{cfg.model.activation} | {cfg.trainer.max_steps} steps of {cfg.data.batch_size}{start}"
    )


def log_final_hyperparameters(trainer: L.Trainer, cfg: DictConfig, record: dict[str, Any]) -> None:
    """TensorBoard's HParams view: the run's main settings with its final accuracies."""
    from lightning.pytorch.loggers import TensorBoardLogger

    settings = {
        "lr": cfg.lr,
        "seed": cfg.seed,
        "reg.rate": cfg.reg.rate,
        "ema.decay": str(cfg.ema.decay),
        "model.hidden": str(list(cfg.model.hidden)),
        "model.activation": cfg.model.activation,
        "optimizer": cfg.optimizer.name,
        "lr_schedule": cfg.lr_schedule.name,
        "batch_size": cfg.data.batch_size,
        "max_steps": cfg.trainer.max_steps,
        "variant": str(chosen_option("variant")),
    }
    finals = {
        f"hparam/{k}": record[k] for k in ("val_acc", "best_val_acc", "test_acc") if record.get(k) is not None
    }
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.log_hyperparams(settings, finals)
            logger.finalize("success")


def train(cfg: DictConfig, output_dir: str | Path) -> dict[str, Any]:
    """Fit (resuming from `cfg.ckpt_path` if set), test, and write `metrics.json` into `output_dir`."""
    validate_train_config(cfg)
    output_dir = Path(output_dir)
    threads = cfg.get("torch_threads") or cpu_threads_per_job()
    torch.set_num_threads(threads)
    # Thread policy (README, "Sharing the machine"): unless torch_threads is set, drop to one thread
    # while another process needs a core, and take the cores back when it is gone.
    governor = CpuThreadGovernor(threads) if cfg.get("torch_threads") is None else None
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    resume, checkpoint, start_step = None, None, 0
    if cfg.get("ckpt_path"):
        resume, checkpoint = check_resumable(cfg.ckpt_path, cfg)
        start_step = checkpoint.get("global_step", 0)
    datamodule, module, trainer, history = build(cfg, [governor] if governor else None, checkpoint=checkpoint)
    log.info(describe_run(cfg, output_dir, resume))
    if cfg.get("init_from") and not resume:
        warm_start(module, cfg.init_from, cfg.get("init_map"), cfg.get("init_weights"))
    if cfg.get("track_test") and not resume:
        # The tutorial also evaluated at step 0; the val/test correlation uses it.
        trainer.validate(module, datamodule=datamodule, verbose=False)
    started = time.perf_counter()
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=resume)
    except SIGTERMException as exc:  # Lightning exits 0 on SIGTERM; say it was stopped (last.ckpt is saved)
        raise SystemExit(128 + signal.SIGTERM) from exc
    except TrainingDiverged as exc:
        # A result, not a crash: a sweep keeps going and its report shows where it diverged.
        log.error("%s", exc)
        record = summarize(trainer, module, history, cfg, time.perf_counter() - started)
        record.update(status="diverged", diverged_at_step=exc.step, error=str(exc))
        if trainer.is_global_zero:
            write_json(output_dir / "metrics.json", record)
        return record
    wall_time = time.perf_counter() - started
    if not history.records or history.records[-1]["step"] != trainer.global_step:
        # Runs shorter than (or not a multiple of) val_check_interval still end with a validation.
        trainer.validate(module, datamodule=datamodule, verbose=False)
    record = summarize(trainer, module, history, cfg, wall_time)
    if cfg.get("test", True):
        tested = trainer.test(module, datamodule=datamodule, verbose=False)[0]
        record.update(scalar_metrics(tested, ("test/",)))
        record["test_acc"] = record.get(f"test_acc_{record['weights']}")
    steps_run = trainer.global_step - start_step  # after a resume: the steps this process ran
    loop_seconds = training_clock(trainer).seconds  # training only: no validation, no checkpoint saves
    record["steps_per_s"] = round(steps_run / loop_seconds, 1) if loop_seconds and steps_run else None
    record["train_loop_s"] = round(loop_seconds, 2)
    if trainer.is_global_zero:
        log_final_hyperparameters(trainer, cfg, record)
        # The whole program so far (start-up, data, fit, test); a multirun's jobs share a process.
        record["process_s"] = None if in_multirun() else process_age_s()
        record["mlflow"] = tracking.tracked_run(trainer.loggers)  # where later programs log their files
        write_json(output_dir / "metrics.json", record)
        tracking.record_training(trainer.loggers, cfg, output_dir, record)
        log.info(
            "After %d training step(s), test accuracy using %s is %s",
            trainer.global_step,
            WEIGHT_LABELS[record["weights"]],
            f"{record['test_acc']:.4f}" if record["test_acc"] is not None else "n/a",
        )
        log.info("Results written to %s", output_dir / "metrics.json")
    return record


EXIT_DIVERGED = 3


def app(cfg: DictConfig) -> float:
    """The train program: one run in Hydra's run folder. Returns what a sweeper (Optuna) maximises:
    `optimized_metric` of the run's record (the final validation accuracy); 0 for a diverged run."""
    output_dir = hydra_output_dir()
    save_resolved_config(cfg, output_dir)
    record = train(cfg, output_dir)
    if record["status"] == "diverged" and not in_multirun():
        raise SystemExit(EXIT_DIVERGED)  # the run folder still holds metrics.json (status: diverged)
    return record.get(cfg.optimized_metric) or 0.0
