"""MLflow, at the end of training: the resolved config as params, tags saying what ran (variant,
seed, git commit, compute dtype, CPU/GPU) and the run's files as artifacts — what Lightning's
MLFlowLogger (which records the metrics by step) does not record by itself."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import MLFlowLogger
from omegaconf import DictConfig, OmegaConf

from mnist_lightning.hydra_setup import PROJECT_ROOT, chosen_option

MAX_PARAM_CHARS = 6000  # MLflow's limit for a param value


def flat_params(cfg: DictConfig) -> dict[str, str]:
    """The resolved config as dotted keys (`optimizer.name`), values as text."""
    container = OmegaConf.to_container(cfg, resolve=True)
    flat: dict[str, str] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict) and node:
            for key, value in node.items():
                walk(value, f"{prefix}.{key}" if prefix else str(key))
        else:
            flat[prefix] = str(node)[:MAX_PARAM_CHARS]

    walk({k: v for k, v in container.items() if k != "hydra"}, "")
    return flat


def git_commit(folder: Path) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except OSError:
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def mlflow_loggers(loggers: list[Any]) -> list[MLFlowLogger]:
    return [logger for logger in loggers if isinstance(logger, MLFlowLogger)]


def tracked_run(loggers: list[Any]) -> dict[str, str] | None:
    """{tracking_uri, experiment_id, run_id} of the run's MLflow logger, for metrics.json."""
    for logger in mlflow_loggers(loggers):
        return {
            "tracking_uri": logger._tracking_uri,
            "experiment_id": logger.experiment_id,
            "run_id": logger.run_id,
        }
    return None


def record_training(loggers: list[Any], cfg: DictConfig, output_dir: Path, record: dict[str, Any]) -> None:
    """Params, tags and the run's result files, once metrics.json is written."""
    trackers = mlflow_loggers(loggers)
    if not trackers:
        return  # and mlflow, a slow import, stays unimported
    from mlflow.entities import Param  # mlflow is there when an MLFlowLogger is

    for logger in trackers:
        client, run_id = logger.experiment, logger.run_id
        params = [Param(key, value) for key, value in flat_params(cfg).items()]
        for start in range(0, len(params), 100):  # MLflow takes at most 100 params per batch
            client.log_batch(run_id, params=params[start : start + 100])
        machine = record.get("machine") or {}
        tags = {
            "variant": chosen_option("variant"),
            "seed": cfg.get("seed"),
            "git_commit": git_commit(PROJECT_ROOT),
            "compute_dtype": record.get("compute_dtype"),
            "device": machine.get("accelerator") or machine.get("cpu"),
            "cpu": machine.get("cpu"),
            "run_folder": str(output_dir),
            "status": record.get("status"),
        }
        for key, value in tags.items():
            if value is not None:
                client.set_tag(run_id, key, str(value))
        for name in ("metrics.json", ".hydra/resolved.yaml", "train.log"):
            if (output_dir / name).is_file():
                client.log_artifact(run_id, str(output_dir / name))
