"""MLflow tracking (logger=mlflow) against the real mlflow client and a SQLite store in a temporary folder.

A sweep as one experiment: tests/test_cli.py (the multirun test).
"""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path

import pytest
from mlflow import MlflowClient

from mnist_lightning.errors import ConfigError
from mnist_lightning.evaluation.run import evaluate
from mnist_lightning.hydra_setup import PROJECT_ROOT
from mnist_lightning.persistence.export_run import export
from mnist_lightning.tracking import check_tracking_store
from mnist_lightning.training.run import train
from tests.helpers import (
    compose_config,
    compose_train,
    free_port,
    mlflow_overrides,
    server,
    small_run_overrides,
)


def test_a_run_is_read_back_with_its_params_metrics_tags_and_files(synthetic_root, tmp_path):
    run, store = tmp_path / "run", tmp_path / "store"
    record = train(
        compose_train([*small_run_overrides(synthetic_root, run, steps=40), *mlflow_overrides(store)]), run
    )
    tracked = json.loads((run / "metrics.json").read_text())["mlflow"]
    assert tracked == record["mlflow"] and tracked["tracking_uri"] == f"sqlite:///{store}/mlflow.db"
    client = MlflowClient(tracked["tracking_uri"])
    mlflow_run = client.get_run(tracked["run_id"])
    params, metrics, tags = mlflow_run.data.params, mlflow_run.data.metrics, mlflow_run.data.tags
    assert (
        params["lr"] == "0.1"
        and params["data.root"] == str(synthetic_root)
        and params["model.hidden"] == "[500]"
    )
    assert params["optimizer.name"] == "sgd" and params["trainer.max_steps"] == "40"
    assert metrics["test/acc_ema"] == pytest.approx(record["test_acc_ema"])
    assert {"train/loss", "lr", "val/acc_ema", "val/acc_raw"} <= set(metrics)
    history = client.get_metric_history(tracked["run_id"], "val/acc_ema")
    # by step: the number of steps done, as in metrics.csv, metrics.json and the checkpoints' names
    assert [m.step for m in history] == [h["step"] for h in record["history"]] == [20, 40]
    assert tags["compute_dtype"] == record["compute_dtype"] and tags["seed"] == "1"
    assert tags["cpu"] == record["machine"]["cpu"] and tags["run_folder"] == str(run)
    files = {a.path for a in client.list_artifacts(tracked["run_id"])}
    assert "metrics.json" in files  # (and .hydra/resolved.yaml, which the program writes: the sweep test)

    # Later programs attach what they write for this run: the exported model, the evaluation.
    export(compose_config("export", [f"ckpt={run}", "format=onnx"]))
    evaluate(compose_config("evaluate", [f"ckpt={run}"]), tmp_path / "eval")
    files = {a.path for a in client.list_artifacts(tracked["run_id"])}
    assert "evaluation.json" in files
    assert [a.path for a in client.list_artifacts(tracked["run_id"], "export")] == ["export/model.onnx"]


def test_an_unreachable_tracking_server_is_one_line_before_training(tmp_path):
    cfg = compose_train(["logger=mlflow", "logger.mlflow.tracking_uri=http://127.0.0.1:9"])
    with pytest.raises(
        ConfigError, match=r"MLflow tracking server logger.mlflow.tracking_uri=http://127.0.0.1:9"
    ):
        check_tracking_store(cfg)


def mlflow_ui() -> str:
    """The `mlflow` command of the UI's own virtualenv (requirements-mlflow-ui.txt; .ci/run makes it and
    names it in MNIST_LIGHTNING_MLFLOW_UI). Missing: a skip on a developer's machine, a failure in CI."""
    command = os.environ.get("MNIST_LIGHTNING_MLFLOW_UI") or str(
        PROJECT_ROOT / ".venv-mlflow-ui" / "bin" / "mlflow"
    )
    if not Path(command).is_file():
        message = f"no MLflow UI at {command}: python3 -m venv .venv-mlflow-ui && .venv-mlflow-ui/bin/pip install -r requirements-mlflow-ui.txt"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return command


def test_the_mlflow_ui_server_opens_the_store_the_project_writes(synthetic_root, tmp_path):
    """`mlflow server` (what `mlflow ui` runs) of requirements-mlflow-ui.txt, on a store a run wrote:
    it serves the run (a UI older than the client refuses the store's schema)."""
    run, store = tmp_path / "run", tmp_path / "store"
    train(compose_train([*small_run_overrides(synthetic_root, run, steps=20), *mlflow_overrides(store)]), run)
    run_id = json.loads((run / "metrics.json").read_text())["mlflow"]["run_id"]
    port = free_port()
    command = [mlflow_ui(), "server", "--backend-store-uri", f"sqlite:///{store}/mlflow.db"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    url = f"http://127.0.0.1:{port}"
    with server(command, f"{url}/health", tmp_path / "mlflow.log"):
        answer = urllib.request.urlopen(f"{url}/api/2.0/mlflow/runs/get?run_id={run_id}", timeout=30).read()
    served = json.loads(answer)["run"]
    assert served["info"]["run_id"] == run_id and served["info"]["status"] == "FINISHED"
    assert {"key": "lr", "value": "0.1"} in served["data"]["params"]
