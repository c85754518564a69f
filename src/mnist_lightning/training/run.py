"""One training run from a composed config, as a recipe: build, fit, test, record (metrics.json)."""

from __future__ import annotations

import logging
import signal
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig

from mnist_lightning.console import quiet_console
from mnist_lightning.data.datamodule import MNISTDataModule
from mnist_lightning.errors import ConfigError
from mnist_lightning.hydra_setup import hydra_output_dir, in_multirun, parallel_jobs, save_resolved_config
from mnist_lightning.machine import physical_cores
from mnist_lightning.training import stacking
from mnist_lightning.training.callbacks import TrainingDiverged
from mnist_lightning.training.config_checks import validate_train_config
from mnist_lightning.training.record import RunRecord
from mnist_lightning.training.resume import check_resumable
from mnist_lightning.training.threads import CpuThreadGovernor
from mnist_lightning.training.warm_start import warm_start

log = logging.getLogger(__name__)
DEFAULT_DATA_ROOT = "${paths.data_dir}"  # conf/data/mnist.yaml's data.root


def instantiate_all(group: DictConfig | None) -> list[Any]:
    """Objects for every entry with a `_target_` in a callbacks/logger group."""
    if not group:
        return []
    return [instantiate(node) for node in group.values() if node and "_target_" in node]


def build(
    cfg: DictConfig,
    callbacks: list[L.Callback] | None = None,
    datamodule: MNISTDataModule | None = None,
    checkpoint: dict[str, Any] | None = None,
) -> tuple[MNISTDataModule, L.LightningModule, L.Trainer]:
    """DataModule, LightningModule and Trainer from the config (plain-type hparams via `_convert_`),
    with the config's callbacks and `callbacks`; several steps per Lightning call (training/stacking.py)."""
    datamodule = datamodule or instantiate(cfg.data, _convert_="all")
    steps = stacking.steps_per_call(cfg, datamodule.train_batches_per_epoch(), checkpoint)
    datamodule.steps_per_call = steps
    module = instantiate(cfg.module, _convert_="all")
    try:
        trainer = instantiate(
            cfg.trainer,
            **stacking.lightning_intervals(cfg, steps),
            callbacks=[*instantiate_all(cfg.get("callbacks")), *(callbacks or [])],
            logger=instantiate_all(cfg.get("logger")) or False,
        )
    except InstantiationException as exc:  # Lightning refusing a trainer/callback/logger setting
        cause = exc.__cause__
        if not isinstance(cause, (MisconfigurationException, ValueError, TypeError)):
            raise
        reason = str(cause).splitlines()[0] if str(cause) else type(cause).__name__
        raise ConfigError(f"Lightning refused a trainer, callbacks or logger setting: {reason}") from exc
    return datamodule, module, trainer


def cpu_threads_per_job() -> int:
    """PyTorch's default thread count (the physical cores) shared among the jobs running at once: OpenMP
    threads that wait for a core another job holds spin and stall both jobs, so never more than that."""
    return max(1, physical_cores() // parallel_jobs())


def describe_run(cfg: DictConfig, output_dir: Path, resume: Path | None) -> str:
    """The one line a run starts with: where it writes, what it reads, which model, how long."""
    widths = "-".join(str(w) for w in [cfg.model.in_features, *cfg.model.hidden, cfg.model.num_classes])
    start = f", resuming from {resume}" if resume else ""
    return (
        f"Run folder {output_dir} | data {cfg.data.name} from {cfg.data.root} | model {widths} "
        f"{cfg.model.activation} | {cfg.trainer.max_steps} steps of {cfg.data.batch_size}{start}"
    )


def cpu_thread_policy(cfg: DictConfig) -> CpuThreadGovernor | None:
    """Sets torch's CPU threads: `torch_threads` if set (fixed); else the job's share of the cores, less
    those other processes use while it trains (training/threads.py)."""
    if cfg.get("torch_threads") is not None:
        torch.set_num_threads(cfg.torch_threads)
        return None
    threads = cpu_threads_per_job()
    torch.set_num_threads(threads)
    return CpuThreadGovernor(threads)


def data_root_of_checkpoint(cfg: DictConfig, checkpoint: dict[str, Any]) -> None:
    """A resumed run reads the data its checkpoint was trained on unless `data.root` is given (as evaluate
    does): the default data/ folder is rarely where that run's files were."""
    if cfg.data._get_node("root")._value() != DEFAULT_DATA_ROOT:
        return
    root = (checkpoint.get("datamodule_hyper_parameters") or {}).get("root")
    if root and Path(root).expanduser().is_dir():
        cfg.data.root = root
        log.info("Data from %s, as the checkpoint's run read it (data.root=... to read another folder)", root)


def train(cfg: DictConfig, output_dir: str | Path) -> dict[str, Any]:
    """Fit (resuming from `cfg.ckpt_path` if set), test, and write `metrics.json` into `output_dir`."""
    validate_train_config(cfg)
    governor = cpu_thread_policy(cfg)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    resume, checkpoint = check_resumable(cfg.ckpt_path, cfg) if cfg.get("ckpt_path") else (None, None)
    if checkpoint is not None:
        data_root_of_checkpoint(cfg, checkpoint)
    record = RunRecord(cfg, Path(output_dir))
    datamodule, module, trainer = build(
        cfg, [record, *([governor] if governor else [])], checkpoint=checkpoint
    )
    log.info(describe_run(cfg, Path(output_dir), resume))
    if cfg.get("init_from") and not resume:
        warm_start(module, cfg.init_from, cfg.get("init_map"), cfg.get("init_weights"))
    if cfg.get("track_test") and not resume:
        trainer.validate(module, datamodule=datamodule, verbose=False)  # step 0, as the tutorial did
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=resume)
    except SIGTERMException as exc:  # Lightning exits 0 on SIGTERM; say it was stopped (last.ckpt is saved)
        raise SystemExit(128 + signal.SIGTERM) from exc
    except TrainingDiverged as exc:  # a result, not a crash: a sweep goes on, its report shows where
        log.error("%s", exc)
        return record.finish(trainer, module, diverged=exc)
    if not record.validated_at(trainer.global_step):  # runs not ending on a validation still end with one
        trainer.validate(module, datamodule=datamodule, verbose=False)
    if cfg.get("test", True):
        trainer.test(module, datamodule=datamodule, verbose=False)
    return record.finish(trainer, module)


EXIT_DIVERGED = 3


def app(cfg: DictConfig) -> float:
    """The train program: one run in Hydra's run folder. Returns what a sweeper (Optuna) maximises:
    `optimized_metric` of the run's record (the final validation accuracy); 0 for a diverged run."""
    quiet_console()
    output_dir = hydra_output_dir()
    save_resolved_config(cfg, output_dir)
    record = train(cfg, output_dir)
    if record["status"] == "diverged" and not in_multirun():
        raise SystemExit(EXIT_DIVERGED)  # the run folder still holds metrics.json (status: diverged)
    return record.get(cfg.optimized_metric) or 0.0
