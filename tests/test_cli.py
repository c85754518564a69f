"""The command lines users type, run as subprocesses."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from tests.helpers import (
    PROJECT_ROOT,
    ctrl_c,
    mlflow_overrides,
    run_script,
    small_run_overrides,
    start_script,
    sweep_overrides,
)


def test_multirun_sweeps_lr_into_separate_job_folders_and_one_mlflow_experiment(synthetic_root, tmp_path):
    from mlflow import MlflowClient

    sweep, store = tmp_path / "sweep", tmp_path / "store"
    overrides = [*sweep_overrides(synthetic_root, steps=20, free=("lr",)), *mlflow_overrides(store)]
    result = run_script("train.py", "-m", "lr=0.1,0.8", *overrides, f"hydra.sweep.dir={sweep}")
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = sorted(p.parent.name for p in sweep.glob("*/metrics.json"))
    assert len(jobs) == 2 and jobs[0].startswith("0_") and "lr=0.1" in jobs[0] and "lr=0.8" in jobs[1]
    lrs = [OmegaConf.load(sweep / job / ".hydra" / "resolved.yaml").lr for job in jobs]
    assert lrs == [0.1, 0.8]
    # The sweep is one MLflow experiment, a run per job, to compare side by side (tests/test_tracking.py: one run).
    client = MlflowClient(f"sqlite:///{store}/mlflow.db")
    [experiment] = [e for e in client.search_experiments() if e.name.startswith("sweep ")]
    runs = client.search_runs([experiment.experiment_id], order_by=["params.lr"])
    assert [r.data.params["lr"] for r in runs] == ["0.1", "0.8"] and sorted(
        r.info.run_name for r in runs
    ) == jobs
    assert all(r.data.tags["variant"] == "all" and "test/acc_ema" in r.data.metrics for r in runs)
    assert all("resolved.yaml" in {a.path for a in client.list_artifacts(r.info.run_id)} for r in runs)


def test_invalid_config_is_one_clear_line_before_training(tmp_path):
    result = run_script("train.py", "ema.decay=1.5", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 2
    assert "error: invalid config value ema.decay=1.5" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr and not (tmp_path / "checkpoints").exists()


def test_missing_data_is_one_clear_error(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_script(
        "train.py", f"data.root={empty}", "data.download=false", f"hydra.run.dir={tmp_path / 'run'}"
    )
    output = result.stderr + result.stdout
    assert result.returncode == 2 and "Traceback" not in output
    assert "mnist not found" in output and str(empty) in output and "Fix:" in output


@pytest.mark.parametrize(
    "override, message",
    [
        ("optimizer=lbfgs", "Could not find 'optimizer/lbfgs'"),
        ("lr=fast", "invalid config value lr='fast'"),
        ("data.batch_size=5000", "data.batch_size=5000 is larger than the training set"),
        ("model.hidden=[0]", "invalid config value model.hidden=[0]"),
        ("ema.decay=1.5", "invalid config value ema.decay=1.5"),
    ],
)
def test_bad_config_fails_clearly_and_writes_nothing(synthetic_root, tmp_path, override, message):
    result = run_script("train.py", *small_run_overrides(synthetic_root, tmp_path, steps=20), override)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and message in output, output[-2000:]
    assert "Traceback" not in output
    assert not (tmp_path / "checkpoints").exists() and not (tmp_path / "metrics.json").exists()


def test_output_folder_that_is_a_file_is_a_clear_error(tmp_path):
    blocker = tmp_path / "outputs"
    blocker.write_text("a file where the run folder should go")
    result = run_script("train.py", f"hydra.run.dir={blocker / 'run'}")
    assert result.returncode == 2
    assert "must be a writable folder, not a file" in result.stderr and "Traceback" not in result.stderr
    assert blocker.read_text() == "a file where the run folder should go"


PROGRAMS = ["train", "evaluate", "export", "predict", "serve", "report"]


@pytest.mark.parametrize("program", PROGRAMS)
def test_help_says_what_it_does_with_examples_and_exits_0(program):
    result = run_script(f"{program}.py", "--help")
    assert result.returncode == 0, result.stderr[-2000:]
    text = result.stdout
    assert "xamples:" in text and text.count(f"python src/{program}.py") >= 3
    assert "Traceback" not in result.stderr and len(text.splitlines()) >= 8


@pytest.mark.parametrize("program", ["train", "evaluate", "export", "predict", "serve"])
def test_an_unknown_key_exits_2_naming_it(program, tmp_path):
    result = run_script(f"{program}.py", "colour=blue", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 2
    assert "error: unknown key colour: Key 'colour' is not in struct" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("script", "missing"),
    [
        ("evaluate.py", "ckpt"),
        ("export.py", "ckpt"),
        ("predict.py", "ckpt"),
        ("serve.py", "ckpt"),
        ("export.py ckpt=null", "ckpt"),
        ("predict.py ckpt=x.onnx", "inputs"),
    ],
)
def test_a_program_without_its_required_keys_says_so_in_one_line(script, missing, tmp_path):
    name, *args = script.split()
    result = run_script(name, *args, f"hydra.run.dir={tmp_path}", timeout=120)
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(lines) == 1 and f"error: {missing} is required: " in lines[0], lines


def test_serve_reads_the_old_threads_key_with_a_notice_and_checks_it_in_one_line(trained_run, tmp_path):
    # the other settings' checks: tests/serving/test_api.py, in-process
    old = run_script("serve.py", f"ckpt={trained_run}", "threads=0", timeout=120)
    output = old.stdout + old.stderr
    assert old.returncode == 2 and "Traceback" not in output
    assert "note: threads= is renamed torch_threads=" in output
    assert "invalid config value torch_threads=0: expected an integer >= 1" in output


def test_the_cli_s_own_settings_do_not_reach_the_processes_a_program_starts(monkeypatch):
    from mnist_lightning import console, hydra_setup
    from mnist_lightning.console import run_reporting_errors

    monkeypatch.setattr(console, "_task_started", False)
    monkeypatch.setenv(
        "HYDRA_FULL_ERROR", "0"
    )  # not "1": the user did not ask; (teardown restores the original)
    monkeypatch.setattr(hydra_setup, "_full_error_set_here", False)
    assert hydra_setup.let_config_errors_reach_the_caller() is False  # the user did not ask for tracebacks
    seen_by_program = run_reporting_errors(lambda: os.environ.get("HYDRA_FULL_ERROR"))
    assert (
        seen_by_program is None and os.environ["HYDRA_FULL_ERROR"] == "1"
    )  # set again for Hydra after the task
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    monkeypatch.setattr(hydra_setup, "_full_error_set_here", False)
    assert hydra_setup.let_config_errors_reach_the_caller() is True  # the user's own setting is theirs
    assert run_reporting_errors(lambda: os.environ.get("HYDRA_FULL_ERROR")) == "1"


def test_an_unquoted_job_folder_gets_told_how_to_quote_it(tmp_path):
    result = run_script("evaluate.py", f"ckpt={tmp_path}/0_seed=1")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "mismatched input '='" in result.stderr and "needs quotes, e.g. 'ckpt=\"outputs/" in result.stderr


def test_a_typo_gets_the_nearest_valid_key(tmp_path):
    result = run_script("train.py", "trainer.max_step=200", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 2 and "Did you mean trainer.max_steps?" in result.stderr
    result = run_script("predict.py", "results_az=json")
    assert result.returncode == 2 and "Did you mean results_as?" in result.stderr


def test_resume_from_a_truncated_checkpoint_is_one_line(trained_run, synthetic_root, tmp_path):
    good = (trained_run / "checkpoints" / "last.ckpt").read_bytes()
    truncated = tmp_path / "half.ckpt"
    truncated.write_bytes(good[: len(good) // 2])
    result = run_script(
        "train.py", *small_run_overrides(synthetic_root, tmp_path / "run", steps=80), f"ckpt_path={truncated}"
    )
    assert result.returncode == 2
    errors = [line for line in (result.stdout + result.stderr).splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and str(truncated) in errors[0] and "not a readable checkpoint" in errors[0]
    assert "Traceback" not in result.stderr + result.stdout and "output folder" not in result.stderr


def test_resume_with_another_width_names_what_the_checkpoint_holds(trained_run, synthetic_root, tmp_path):
    result = run_script(
        "train.py",
        *small_run_overrides(synthetic_root, tmp_path / "run", steps=80),
        f"ckpt_path={trained_run}",
        "model.hidden=[64]",
    )
    output = result.stdout + result.stderr
    assert result.returncode == 2 and "Traceback" not in output
    assert (
        f"ckpt_path={trained_run / 'checkpoints' / 'last.ckpt'} was trained with model.hidden=[500]" in output
    )
    assert "this run asks for model.hidden=[64]" in output


def test_a_missing_resume_folder_is_not_called_an_output_folder_problem(synthetic_root, tmp_path):
    result = run_script(
        "train.py", *small_run_overrides(synthetic_root, tmp_path / "run", steps=20), f"ckpt_path={tmp_path}"
    )  # a folder without checkpoints
    output = result.stdout + result.stderr
    assert result.returncode == 2 and "no last.ckpt in" in output and "output folder" not in output


def test_a_training_command_trains_what_it_was_told_and_is_quiet(synthetic_root, tmp_path):
    result = run_script(
        "train.py", "ema=off", "reg=l2", *small_run_overrides(synthetic_root, tmp_path, steps=40)
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["weights"] == "raw" and "test_acc_ema" not in metrics and metrics["step"] == 40
    resolved = (tmp_path / ".hydra" / "resolved.yaml").read_text()
    assert "ema_decay: null" in resolved and "${" not in resolved
    console = result.stdout + result.stderr
    for noise in ("GPU available", "TPU available", "will be deleted", "💡", "Warning", "INFO: "):
        assert noise not in console, noise
    assert (
        f"Run folder {tmp_path} | data mnist from {synthetic_root} | model 784-500-10 relu | 40 steps of 50"
        in console
    )
    assert "Training steps: 100%" in console and "40/40" in console
    assert "After 40 training step(s), validation accuracy using raw weights is" in console
    log = (tmp_path / "train.log").read_text()
    assert "After 40 training step(s), validation accuracy using raw weights is" in log
    assert "After 40 training step(s), test accuracy using raw weights is" in log


def test_predict_and_export_leave_no_run_folder(trained_run, tmp_path):
    onnx = run_script(
        "export.py", f"ckpt={trained_run}", "format=onnx", f"export_dir={tmp_path / 'x'}", cwd=tmp_path
    )
    assert onnx.returncode == 0, onnx.stderr[-2000:]
    assert onnx.stderr.strip().splitlines() == [  # one line: the exporter's own chatter is silenced
        f"Wrote {tmp_path / 'x' / 'model.onnx'} (onnx, ema weights, step 60)"
    ]
    predicted = run_script("predict.py", f"ckpt={trained_run}", f"inputs={tmp_path / 'x'}", cwd=tmp_path)
    assert predicted.returncode == 2  # the folder holds no image
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x"] and not (tmp_path / "outputs").exists()


@pytest.mark.parametrize("program", ["evaluate", "serve"])
def test_ctrl_c_during_start_up_is_one_line_and_exit_130(program, trained_run, tmp_path):
    """Ctrl-C while the program imports torch or loads its model (outside training's own handling):
    one line, exit 130, no traceback."""
    process = start_script(
        f"{program}.py", f"ckpt={trained_run}", f"hydra.run.dir={tmp_path}", stderr=subprocess.PIPE
    )
    maps, deadline = Path(f"/proc/{process.pid}/maps"), time.monotonic() + 60
    while "libtorch" not in maps.read_text() and time.monotonic() < deadline:  # inside the program's imports
        time.sleep(0.02)
    ctrl_c(process)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr[-3000:]
    assert (
        "Traceback" not in stderr
        and stderr.strip().splitlines()[-1] == "interrupted (Ctrl-C): nothing more was done"
    )


@pytest.mark.parametrize("flag", ["--cfg job", "--cfg hydra", "--info"])
def test_a_sweep_with_a_show_flag_is_one_line_not_hydras_traceback(flag):
    result = run_script("train.py", "-m", "lr=0.1,0.8", *flag.split())
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"error: -m and {flag.split()[0]} cannot be combined")


def test_help_into_a_closed_pipe_ends_quietly():
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has gone (as `--help | head` once head is done): every write fails
    writer = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "src" / "train.py"), "--help"],
        stdout=write_end,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    os.close(write_end)
    assert writer.returncode == 141, writer.stderr
    assert "Traceback" not in writer.stderr and "output folder" not in writer.stderr, writer.stderr


def test_ctrl_c_the_moment_serving_is_announced_stops_it_with_exit_0(trained_run, tmp_path):
    process = start_script("serve.py", f"ckpt={trained_run}", "port=0", stderr=subprocess.PIPE)
    seen = []
    for line in process.stderr:  # the documented way to stop a server, right after it says it serves
        seen.append(line)
        if "Serving on" in line:
            ctrl_c(process)  # to the server and its decode workers, as a terminal sends it
            break
    _, rest = process.communicate(timeout=60)
    output = "".join(seen) + rest
    assert process.returncode == 0 and "Traceback" not in output, output[-3000:]
    assert output.strip().splitlines()[-1].endswith("Stopped serving")
