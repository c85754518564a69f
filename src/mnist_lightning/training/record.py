"""The run's record (metrics.json): what a training run reports, kept by a callback while it runs.

Validations by step, the training loop's own time (validations and checkpoint saves left out),
the test accuracy, and what really ran (dtype, threads, machine); written once at the end, with
the final accuracies also given to TensorBoard's HParams view and to MLflow.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
import torch
from omegaconf import DictConfig

from mnist_lightning.hydra_setup import chosen_option, in_multirun
from mnist_lightning.io import write_json
from mnist_lightning.machine import describe_machine
from mnist_lightning.models.mlp_gradients import COMPUTE_DTYPES
from mnist_lightning.training import tracking
from mnist_lightning.training.module import WEIGHT_LABELS
from mnist_lightning.training.threads import CpuThreadGovernor

log = logging.getLogger(__name__)
DTYPE_NAMES = {dtype: name for name, dtype in COMPUTE_DTYPES.items()}


def scalar_metrics(metrics: Mapping[str, Any], prefixes: tuple[str, ...]) -> dict[str, float]:
    """Logged metrics under `prefixes` as floats, with flat names for JSON/CSV (`val/acc_ema` -> `val_acc_ema`)."""
    return {key.replace("/", "_"): float(value) for key, value in metrics.items() if key.startswith(prefixes)}


def process_age_s() -> float | None:
    """Seconds since this process started (interpreter start-up and imports included); Linux only."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return round(uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK"), 2)
    except (OSError, ValueError, IndexError):
        return None


def what_ran(trainer: L.Trainer, module: L.LightningModule) -> dict[str, Any]:
    """The dtype the training GEMMs really used (fp32 where bf16 fell back), the CPU threads, the machine."""
    governor = next((c for c in trainer.callbacks if isinstance(c, CpuThreadGovernor)), None)
    threads = torch.get_num_threads()
    return {
        "compute_dtype": DTYPE_NAMES[module.compute_dtype],
        "steps_per_call": trainer.datamodule.steps_per_call if trainer.datamodule else 1,
        "cpu_threads": threads,
        "threads_used": sorted(governor.thread_counts) if governor else [threads],
        "thread_switches": governor.switches if governor else 0,
        "thread_policy": governor.policy if governor else "fixed: torch_threads is set",
        "mkl_cbwr": os.environ.get("MKL_CBWR"),
        "machine": describe_machine(module.device),
    }


class RunRecord(L.Callback):
    """Keeps the run's validations, training-loop time and test metrics; `finish` writes metrics.json.

    The clock stops when a validation starts and restarts at the next training batch, so
    `steps / seconds` is the training loop's speed, comparable with TF1's `steps_per_s_train`.
    On CUDA it synchronizes at those boundaries only (never per step).
    """

    def __init__(self, cfg: DictConfig, output_dir: Path) -> None:
        self.cfg, self.output_dir = cfg, output_dir
        self.history: list[dict[str, float]] = []
        self.test: dict[str, float] = {}
        self.loop_seconds = 0.0
        self._since: float | None = None
        self._fit_started = self._start_step = None

    def validated_at(self, step: int) -> bool:
        return bool(self.history) and self.history[-1]["step"] == step

    def _stop_clock(self, pl_module: L.LightningModule) -> None:
        if self._since is not None:
            if pl_module.device.type == "cuda":
                torch.cuda.synchronize(pl_module.device)
            self.loop_seconds += time.perf_counter() - self._since
            self._since = None

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._fit_started = time.perf_counter()

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start_step = trainer.global_step  # after a resume: the steps this process runs
        self._since = time.perf_counter()

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if self._since is None:
            self._since = time.perf_counter()

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._stop_clock(pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._stop_clock(pl_module)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking:
            metrics = scalar_metrics(trainer.callback_metrics, ("val/", "tracked_test/"))
            self.history.append({"step": trainer.global_step, **metrics})

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.test = scalar_metrics(trainer.callback_metrics, ("test/",))

    def finish(
        self, trainer: L.Trainer, module: L.LightningModule, diverged: Exception | None = None
    ) -> dict[str, Any]:
        """The record (written to metrics.json on rank 0): accuracies, history, timing, what ran."""
        record = self._summary(trainer, module)
        if diverged is not None:
            record.update(
                status="diverged", diverged_at_step=getattr(diverged, "step", None), error=str(diverged)
            )
        if trainer.is_global_zero:
            if diverged is None:
                log_final_hyperparameters(trainer, self.cfg, record)
            # The whole program so far (start-up, data, fit, test); a multirun's jobs share a process.
            record["process_s"] = None if in_multirun() else process_age_s()
            record["mlflow"] = tracking.tracked_run(trainer.loggers)  # where later programs log their files
            write_json(self.output_dir / "metrics.json", record)
            tracking.record_training(trainer.loggers, self.cfg, self.output_dir, record)
            if diverged is None:
                accuracy = record["test_acc"]
                log.info(
                    "After %d training step(s), test accuracy using %s is %s",
                    trainer.global_step,
                    WEIGHT_LABELS[record["weights"]],
                    f"{accuracy:.4f}" if accuracy is not None else "n/a",
                )
            log.info("Results written to %s", self.output_dir / "metrics.json")
        return record

    def _summary(self, trainer: L.Trainer, module: L.LightningModule) -> dict[str, Any]:
        main = module.reported_weights
        last_val = self.history[-1] if self.history else {}
        val_key = f"val_acc_{main}"
        steps_run = trainer.global_step - (self._start_step or 0)
        return {
            "status": "completed",
            "step": trainer.global_step,
            "weights": main,
            "val_acc": last_val.get(val_key),
            "best_val_acc": max((r[val_key] for r in self.history if val_key in r), default=None),
            "test_acc": self.test.get(f"test_acc_{main}"),
            **{k: v for k, v in last_val.items() if k.startswith("val_")},
            **self.test,
            "wall_time_s": round(time.perf_counter() - self._fit_started, 2) if self._fit_started else None,
            "steps_per_s": round(steps_run / self.loop_seconds, 1)
            if self.loop_seconds and steps_run
            else None,
            "train_loop_s": round(self.loop_seconds, 2),
            **what_ran(trainer, module),
            "seed": self.cfg.seed,
            "variant": chosen_option("variant"),
            "history": self.history,
        }


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
