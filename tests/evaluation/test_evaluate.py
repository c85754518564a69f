"""The standalone evaluator: one checkpoint, and the tutorial's watch loop."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch

from mnist_lightning.evaluation.checkpoint_eval import watch_checkpoints
from mnist_lightning.evaluation.metrics import evaluate_model
from mnist_lightning.evaluation.run import evaluate
from mnist_lightning.hydra_setup import PROJECT_ROOT
from mnist_lightning.models import MLP
from mnist_lightning.persistence.checkpoints import CheckpointError
from mnist_lightning.training.run import train
from tests.helpers import (
    compose_config,
    compose_train,
    run_script,
    small_run_overrides,
    start_script,
    wait_for,
)


@pytest.mark.parametrize("weights, as_a_command", [("ema", True), ("raw", False)])
def test_checkpoint_accuracy_equals_training_validation_at_that_step(
    trained_run, tmp_path, caplog, weights, as_a_command
):
    history = {h["step"]: h for h in json.loads((trained_run / "metrics.json").read_text())["history"]}
    args = [f"ckpt={trained_run / 'checkpoints' / 'step000040.ckpt'}", f"weights={weights}"]
    if as_a_command:  # as users type it (the other case in-process: the same function, no process start)
        result = run_script("evaluate.py", *args, f"hydra.run.dir={tmp_path}")
        assert result.returncode == 0, result.stderr[-2000:]
        console = result.stderr + result.stdout
    else:
        with caplog.at_level("INFO"):
            evaluate(compose_config("evaluate", args), tmp_path)
        console = caplog.text
    record = json.loads((tmp_path / "evaluation.json").read_text())
    assert record["step"] == 40 and record["split"] == "val" and record["weights"] == weights
    assert record["accuracy"] == pytest.approx(history[40][f"val_acc_{weights}"], abs=1e-6)
    assert f"After 40 training step(s), validation accuracy = {record['accuracy']:.4f}" in console
    assert len(record["per_class_accuracy"]) == 10 and sum(map(sum, record["confusion_matrix"])) == 200


def test_test_split_of_final_checkpoint_equals_training_test_accuracy(trained_run, tmp_path):
    cfg = compose_config(
        "evaluate", [f"ckpt={trained_run}", "split=test", f"results_file={tmp_path / 'e.json'}"]
    )
    [record] = evaluate(cfg, tmp_path)
    final = json.loads((trained_run / "metrics.json").read_text())
    assert record["step"] == final["step"] and round(record["accuracy"], 4) == round(final["test_acc"], 4)


def test_watch_retries_a_half_written_checkpoint_and_never_reports_it(trained_run, tmp_path):
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    full = (trained_run / "checkpoints" / "step000020.ckpt").read_bytes()
    (folder / "step000020.ckpt").write_bytes(full[: len(full) // 3])  # training is mid-write
    calls = []

    def evaluate_path(path):
        from mnist_lightning.persistence.checkpoints import load_checkpoint

        checkpoint = load_checkpoint(path)  # raises CheckpointError while half-written
        calls.append(path.name)
        return {
            "checkpoint": str(path),
            "step": checkpoint["global_step"],
            "split": "val",
            "weights": "ema",
            "accuracy": 0.5,
        }

    def finish_writing(seconds):
        (folder / "step000020.ckpt").write_bytes(full)
        shutil.copy(trained_run / "checkpoints" / "step000040.ckpt", folder / "step000040.ckpt")

    results = watch_checkpoints(
        folder, evaluate_path, interval=0, max_evals=2, timeout=30, sleep=finish_writing
    )
    assert [r["step"] for r in results] == [20, 40] and calls == ["step000020.ckpt", "step000040.ckpt"]


def test_watch_skips_a_checkpoint_pruned_between_listing_and_loading(trained_run, tmp_path, caplog):
    folder = tmp_path / "checkpoints"
    shutil.copytree(trained_run / "checkpoints", folder)

    def evaluate_path(path):
        if path.name == "step000020.ckpt":
            path.unlink()  # pruned by keep-5 right after the listing
            raise CheckpointError(f"checkpoint {path} does not exist (was it pruned?)")
        return {
            "checkpoint": str(path),
            "step": int(path.stem[4:]),
            "split": "val",
            "weights": "ema",
            "accuracy": 1.0,
        }

    saved = []
    results = watch_checkpoints(
        folder,
        evaluate_path,
        interval=0,
        timeout=0,
        sleep=lambda s: None,
        on_result=lambda so_far: saved.append([r["step"] for r in so_far]),
    )
    assert [r["step"] for r in results] == [40, 60] and saved == [
        [40],
        [40, 60],
    ]  # saved after each evaluation
    assert (
        sum("Skipped step000020.ckpt: deleted before it could be evaluated" in m for m in caplog.messages)
        == 1
    )


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_stopping_the_watcher_keeps_every_evaluation_made(trained_run, tmp_path, stop):
    output = tmp_path / "watch.json"
    watcher = start_script(
        "evaluate.py",
        f"ckpt={trained_run / 'checkpoints'}",
        "watch=true",
        "interval=60",
        f"results_file={output}",
        f"hydra.run.dir={tmp_path / 'eval'}",
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and watcher.poll() is None:  # the three checkpoints, then it waits 60 s
        if output.exists() and len(json.loads(output.read_text())["results"]) == 3:
            break
        time.sleep(0.1)
    watcher.send_signal(stop)
    watcher.communicate(timeout=60)
    assert watcher.returncode == (0 if stop == signal.SIGINT else -signal.SIGTERM)
    assert [r["step"] for r in json.loads(output.read_text())["results"]] == [20, 40, 60]


def test_watching_a_checkpoint_file_is_refused(trained_run, tmp_path):
    from mnist_lightning.errors import ConfigError

    cfg = compose_config("evaluate", [f"ckpt={trained_run / 'checkpoints' / 'last.ckpt'}", "watch=true"])
    with pytest.raises(ConfigError, match="watch=true follows a folder as training writes into it"):
        evaluate(cfg, tmp_path)


def test_watch_follows_a_live_training_run_evaluating_each_step_once(synthetic_root, tmp_path):
    run = tmp_path / "run"
    overrides = small_run_overrides(synthetic_root, run, steps=100) + [
        "trainer.val_check_interval=20",
        "test=false",
    ]
    watcher = subprocess.Popen(
        [
            sys.executable,
            str(PROJECT_ROOT / "src" / "evaluate.py"),
            f"ckpt={run / 'checkpoints'}",
            "watch=true",
            "interval=0.5",
            "max_evals=5",
            "timeout=240",
            f"results_file={tmp_path / 'watch.json'}",
            f"hydra.run.dir={tmp_path / 'eval'}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    wait_for(
        tmp_path / "eval" / ".hydra" / "config.yaml", watcher
    )  # the watcher is up before training starts
    # It runs niced (10 above us), so training keeps the cores when both want them.
    deadline = time.monotonic() + 60
    while (
        os.getpriority(os.PRIO_PROCESS, watcher.pid) == os.getpriority(os.PRIO_PROCESS, 0)
        and time.monotonic() < deadline
    ):
        time.sleep(0.05)
    assert os.getpriority(os.PRIO_PROCESS, watcher.pid) == os.getpriority(os.PRIO_PROCESS, 0) + 10
    train(compose_train(overrides), run)  # training in this process, the watcher beside it
    output, _ = watcher.communicate(timeout=240)
    assert watcher.returncode == 0, output[-2000:]
    results = json.loads((tmp_path / "watch.json").read_text())["results"]
    assert [r["step"] for r in results] == [20, 40, 60, 80, 100]
    history = {h["step"]: h["val_acc_ema"] for h in json.loads((run / "metrics.json").read_text())["history"]}
    assert all(r["accuracy"] == pytest.approx(history[r["step"]], abs=1e-6) for r in results)
    assert output.count("After 100 training step(s), validation accuracy") == 1


def test_evaluation_takes_the_class_count_from_the_model_and_batches_as_asked():
    net = MLP(in_features=4, hidden=[], num_classes=3)
    calls = []
    net.register_forward_hook(lambda module, args, output: calls.append(len(args[0])))
    images, labels = torch.rand(7, 4), torch.tensor([0, 1, 2, 0, 1, 2, 0])
    metrics = evaluate_model(net, images, labels, batch_size=3)
    assert len(metrics["per_class_accuracy"]) == 3 and len(metrics["confusion_matrix"]) == 3
    assert calls == [3, 3, 1] and metrics["num_examples"] == 7


def test_data_root_and_the_data_group_work_in_the_evaluator(trained_run, synthetic_root, tmp_path):
    from mnist_lightning.errors import DataError

    for i, extra in enumerate(
        ([f"data.root={synthetic_root}"], ["data=mnist", f"data.root={synthetic_root}"])
    ):
        [result] = evaluate(compose_config("evaluate", [f"ckpt={trained_run}", *extra]), tmp_path / str(i))
        assert result["step"] == 60 and 0 < result["accuracy"] <= 1
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="mnist not found") as error:
        evaluate(compose_config("evaluate", [f"ckpt={trained_run}", f"data.root={empty}"]), tmp_path / "e")
    assert str(empty) in str(error.value)


def test_a_refused_evaluation_leaves_no_dated_folder_behind_but_keeps_a_given_one(tmp_path):
    import os
    import subprocess
    import sys

    from tests.helpers import PROJECT_ROOT

    def evaluate(*args):
        env = {**os.environ, "MNIST_LIGHTNING_ROOT": str(tmp_path)}
        command = [sys.executable, str(PROJECT_ROOT / "src" / "evaluate.py"), "ckpt=/nonexistent", *args]
        return subprocess.run(command, capture_output=True, text=True, env=env, check=False, timeout=120)

    result = evaluate()
    assert (
        result.returncode == 2 and "checkpoint /nonexistent does not exist" in result.stdout + result.stderr
    )
    assert not (tmp_path / "outputs" / "evaluate").exists() or not any(
        (tmp_path / "outputs" / "evaluate").iterdir()
    )
    given = tmp_path / "mine"
    assert evaluate(f"hydra.run.dir={given}").returncode == 2
    assert (given / ".hydra").is_dir()  # a folder the user named is theirs: kept
