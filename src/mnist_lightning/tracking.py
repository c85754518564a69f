"""MLflow tracking (`logger=mlflow`) for the programs around training: the tracking server is
checked before training starts, and the files `evaluate.py` / `export.py` write for a tracked
run's checkpoints (evaluation.json, the exported model) are logged to that run — its metrics.json
names it. mlflow is imported only where a run uses it; training's side: training/tracking.py."""

from __future__ import annotations

import logging
from pathlib import Path

from omegaconf import DictConfig

from mnist_lightning.errors import ConfigError

log = logging.getLogger(__name__)


def attach_to_training_run(run_folder: Path, files: list[Path], subfolder: str | None = None) -> None:
    """Log files that a later program wrote for a run (evaluation.json, the exported model) to that
    run's MLflow run, when it has one; a tracking store that cannot be reached is one warning line."""
    import json

    try:
        tracked = json.loads((run_folder / "metrics.json").read_text()).get("mlflow")
    except (OSError, ValueError):
        return
    if not tracked:
        return
    try:
        from mlflow import MlflowClient

        client = MlflowClient(tracked["tracking_uri"])
        for file in files:
            client.log_artifact(tracked["run_id"], str(file), subfolder)
        log.info(
            "Logged %s to MLflow run %s (%s)",
            ", ".join(f.name for f in files),
            tracked["run_id"],
            tracked["tracking_uri"],
        )
    except Exception as exc:  # noqa: BLE001 - the files are written; tracking them is a courtesy
        log.warning(
            "Could not log to MLflow run %s at %s: %s",
            tracked["run_id"],
            tracked["tracking_uri"],
            str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
        )


def check_tracking_store(cfg: DictConfig) -> None:
    """Before training: an MLflow logger's tracking server answers, or one line names it."""
    for node in (cfg.get("logger") or {}).values():
        if not node or "MLFlowLogger" not in str(node.get("_target_", "")):
            continue
        uri = str(node.get("tracking_uri") or "")
        if uri.startswith(("http://", "https://")):
            import urllib.request

            try:
                urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=5).read()
            except OSError as exc:
                raise ConfigError(
                    f"the MLflow tracking server logger.mlflow.tracking_uri={uri} does not answer "
                    f"({getattr(exc, 'reason', exc)}): start it, or track to a local file "
                    "(the default: sqlite:///outputs/mlflow.db)"
                ) from exc
