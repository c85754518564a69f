"""Short real runs: fit writes checkpoints/metrics, checkpoints load safely, resume continues."""

import json
import os
import signal
import subprocess
import sys

import pytest
import torch

from mnist_lightning.hydra_setup import PROJECT_ROOT
from mnist_lightning.persistence.restore import mlp_from_checkpoint
from mnist_lightning.training import MNISTClassifier
from mnist_lightning.training.run import train
from tests.helpers import (
    compose_train,
    ctrl_c_by_default,
    small_run_overrides,
    split_of_run,
    start_script,
    wait_for,
)


@pytest.fixture(scope="module")
def finished_run(synthetic_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    record = train(compose_train(small_run_overrides(synthetic_root, out, steps=60)), out)
    return out, record


def test_fit_writes_metrics_logs_and_checkpoints(finished_run):
    out, record = finished_run
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics == json.loads(json.dumps(record))
    assert metrics["status"] == "completed" and metrics["step"] == 60 and metrics["weights"] == "ema"
    assert [h["step"] for h in metrics["history"]] == [20, 40, 60]
    assert metrics["test_acc"] == metrics["test_acc_ema"] and metrics["test_acc"] > 0.5
    assert metrics["val_acc"] == metrics["val_acc_ema"] == metrics["history"][-1]["val_acc_ema"]
    raw = mlp_from_checkpoint(torch.load(out / "checkpoints" / "last.ckpt", weights_only=True), "raw")
    images, labels = split_of_run(out, "test")
    with torch.no_grad():
        assert metrics["test_acc_raw"] == pytest.approx(
            (raw(images).argmax(1) == labels).float().mean().item()
        )
    names = sorted(p.name for p in (out / "checkpoints").glob("*.ckpt"))
    assert names == ["last.ckpt", "step000020.ckpt", "step000040.ckpt", "step000060.ckpt"]
    header = (out / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"train/loss", "lr", "val/acc_ema", "val/acc_raw", "test/acc_ema", "step"} <= set(header)


def test_checkpoint_loads_with_weights_only_and_rebuilds_the_model(finished_run):
    out, _ = finished_run
    ckpt = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")
    assert ckpt["global_step"] == 60
    assert any(k.startswith("ema.module.layer1") for k in ckpt["state_dict"])
    model = MNISTClassifier.load_from_checkpoint(out / "checkpoints" / "last.ckpt", weights_only=True)
    assert model.hparams.net["hidden"] == [500] and model.hparams.ema_decay == 0.99


def test_keeps_only_the_five_newest_checkpoints(synthetic_root, tmp_path):
    overrides = small_run_overrides(synthetic_root, tmp_path, steps=70) + [
        "trainer.val_check_interval=10",
        "test=false",
    ]
    train(compose_train(overrides), tmp_path)
    steps = sorted(p.name for p in (tmp_path / "checkpoints").glob("step*.ckpt"))
    assert steps == [f"step0000{s}.ckpt" for s in (30, 40, 50, 60, 70)]


def test_resume_from_checkpoint_continues_to_max_steps(finished_run, synthetic_root, tmp_path):
    out, _ = finished_run
    overrides = small_run_overrides(synthetic_root, tmp_path, steps=80) + [
        f"ckpt_path={out}/checkpoints/last.ckpt"
    ]
    record = train(compose_train(overrides), tmp_path)
    assert record["step"] == 80 and [h["step"] for h in record["history"]] == [80]


def test_seed_makes_a_run_repeatable(synthetic_root, tmp_path):
    def run(name, seed):
        out = tmp_path / name
        overrides = small_run_overrides(synthetic_root, out, steps=20) + [f"seed={seed}", "logger=none"]
        return train(compose_train(overrides), out)

    a, b, c = run("a", 5), run("b", 5), run("c", 6)
    assert a["val_acc_raw"] == b["val_acc_raw"] and a["test_acc"] == b["test_acc"]
    assert a["history"][-1]["val_loss"] == b["history"][-1]["val_loss"]
    assert a["history"][-1]["val_loss"] != c["history"][-1]["val_loss"]


def assert_resumes_bitwise(synthetic_root, tmp_path, ckpt, steps: int, *settings: str) -> tuple[dict, dict]:
    """Resumed from `ckpt` to `steps`, a run ends with the bits of one never stopped: the same step, raw
    weights, moving average and `n_averaged`, tensor for tensor. Returns both final checkpoints."""
    finals = {}
    for name, extra in (("resumed", [f"ckpt_path={ckpt}"]), ("reference", [])):
        out = tmp_path / name
        record = train(
            compose_train(small_run_overrides(synthetic_root, out, steps=steps) + [*settings, *extra]), out
        )
        assert record["step"] == steps
        finals[name] = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)
    assert finals["resumed"]["global_step"] == finals["reference"]["global_step"] == steps
    for name, tensor in finals["reference"]["state_dict"].items():
        assert torch.equal(tensor, finals["resumed"]["state_dict"][name]), name
    return finals["resumed"], finals["reference"]


def test_resume_mid_epoch_is_bitwise_identical_to_an_uninterrupted_run(synthetic_root, tmp_path):
    """Data order, EMA, LR schedule position and optimizer state all come back from the checkpoint."""
    quiet = ["trainer.val_check_interval=30", "logger=none", "test=false", "~callbacks.progress_bar"]
    part = tmp_path / "part"
    # 20 batches per epoch: step 30 is mid-epoch
    train(compose_train(small_run_overrides(synthetic_root, part, steps=30) + quiet), part)
    resumed, full = assert_resumes_bitwise(
        synthetic_root, tmp_path, part / "checkpoints" / "last.ckpt", 90, *quiet
    )
    assert resumed["lr_schedulers"][0]["last_epoch"] == full["lr_schedulers"][0]["last_epoch"] == 90


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_saves_a_resumable_last_checkpoint(synthetic_root, tmp_path, sig):
    run = tmp_path / "run"
    overrides = small_run_overrides(synthetic_root, run, steps=100000) + ["trainer.val_check_interval=20"]
    process = start_script("train.py", *overrides)
    wait_for(run / "checkpoints" / "step000040.ckpt", process)
    process.send_signal(sig)
    output, _ = process.communicate(timeout=60)
    assert "Interrupted at step" in output, output[-3000:]
    assert process.returncode != 0 and "ckpt_path=" in output
    checkpoint = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["global_step"] >= 40
    assert (
        checkpoint["global_step"] % 10 == 0
    )  # 10 steps per call here: a whole stack of steps, never part of one
    # Resumed to the next validation (which writes last.ckpt), it has the bits of a run never interrupted.
    target = (checkpoint["global_step"] // 20 + 1) * 20
    assert_resumes_bitwise(synthetic_root, tmp_path, run / "checkpoints" / "last.ckpt", target, "test=false")


def stop_with(
    synthetic_root, run, sig: signal.Signals, step: int, times: int, val_every: int = 20
) -> subprocess.CompletedProcess:
    """A run (validating every `val_every` steps, 10 steps per call) sent `sig` `times` times once the stack
    starting at `step` is handed out, before it is trained (tests/training/presses.py)."""
    return subprocess.run(
        [
            sys.executable,
            str(PROJECT_ROOT / "src" / "train.py"),
            *small_run_overrides(synthetic_root, run, steps=1000),
            f"trainer.val_check_interval={val_every}",
            "+callbacks.signal._target_=tests.training.presses.SignalAt",
            f"+callbacks.signal.step={step}",
            f"+callbacks.signal.signal_name={sig.name}",
            f"+callbacks.signal.times={times}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
        preexec_fn=ctrl_c_by_default,
    )


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("sent_at", [50, 60], ids=["stops-at-an-epochs-end", "stops-mid-epoch"])
def test_a_stop_before_a_handed_out_stack_is_trained_acts_after_it(synthetic_root, tmp_path, sig, sent_at):
    # Acted on there, the data loader would count the stack as done and the resumed run would skip it.
    stopped = stop_with(synthetic_root, tmp_path / "run", sig, step=sent_at, times=1)
    assert stopped.returncode == (128 + signal.SIGTERM if sig == signal.SIGTERM else 1), stopped.stdout[
        -3000:
    ]
    assert f"Interrupted at step {sent_at + 10}" in stopped.stdout, stopped.stdout[-3000:]
    settings = ("test=false", "logger=none", "trainer.val_check_interval=20")
    assert_resumes_bitwise(synthetic_root, tmp_path, tmp_path / "run", 80, *settings)


def test_a_second_ctrl_c_stops_at_once_without_a_checkpoint(synthetic_root, tmp_path):
    stopped = stop_with(synthetic_root, tmp_path / "run", signal.SIGINT, step=50, times=2)
    assert stopped.returncode == 1 and "Stopped at once at step 50" in stopped.stdout, stopped.stdout[-3000:]
    assert "Interrupted at step" not in stopped.stdout
    last = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["global_step"] == 40  # the last validation's save, not the half-done state


def test_sigkill_then_resume_ends_with_the_same_weights_as_an_uninterrupted_run(synthetic_root, tmp_path):
    quiet = ["trainer.val_check_interval=20", "logger=none", "test=false", "~callbacks.progress_bar"]
    run = tmp_path / "killed"
    process = subprocess.Popen(
        [
            sys.executable,
            str(PROJECT_ROOT / "src" / "train.py"),
            *small_run_overrides(synthetic_root, run, steps=120),
            *quiet,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for(run / "checkpoints" / "step000060.ckpt", process)
    process.kill()  # SIGKILL: no handler runs, no goodbye checkpoint
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    killed_at = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["global_step"]
    assert 20 <= killed_at < 120  # last.ckpt may still be the previous save when the kill lands

    assert_resumes_bitwise(synthetic_root, tmp_path, run / "checkpoints" / "last.ckpt", 120, *quiet)


def test_tensorboard_event_files_hold_the_scalars_and_the_hparams(synthetic_root, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    train(compose_train([*small_run_overrides(synthetic_root, tmp_path, steps=40), "logger=many"]), tmp_path)
    assert (tmp_path / "metrics.csv").is_file()  # logger=many: CSV too
    events = EventAccumulator(str(tmp_path))
    events.Reload()
    scalars = set(events.Tags()["scalars"])
    assert {
        "train/loss",
        "lr",
        "val/acc_ema",
        "val/acc_raw",
        "test/acc_ema",
        "test/acc_raw",
        "hparam/test_acc",
    } <= scalars
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert events.Scalars("hparam/test_acc")[-1].value == pytest.approx(metrics["test_acc"])
    assert events.Scalars("val/acc_ema")[-1].value == pytest.approx(metrics["val_acc_ema"])
    content = events.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(
        content["_hparams_/session_start_info"]
    ).session_start_info
    assert (
        start.hparams["lr"].number_value == pytest.approx(0.1)
        and start.hparams["model.hidden"].string_value == "[500]"
    )
    experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"]).experiment
    assert {m.name.tag for m in experiment.metric_infos} == {
        "hparam/val_acc",
        "hparam/best_val_acc",
        "hparam/test_acc",
    }


@pytest.mark.parametrize(
    "mode, check",
    [
        ("debug=fdr", lambda out, m: m["step"] == 1),
        ("debug=limit", lambda out, m: m["step"] == 60 and [h["step"] for h in m["history"]] == [20, 40, 60]),
        ("debug=overfit", lambda out, m: m["weights"] == "raw" and m["step"] == 100),
        ("debug=profiler", lambda out, m: "FIT Profiler Report" in (out / "fit-profile.txt").read_text()),
    ],
)
def test_debug_modes(synthetic_root, tmp_path, mode, check):
    extra = ["trainer.max_steps=100"] if mode in ("debug=overfit", "debug=profiler") else []
    overrides = [
        o for o in small_run_overrides(synthetic_root, tmp_path, steps=40) if not o.startswith("trainer.")
    ]
    train(
        compose_train([*overrides, mode, *extra]), tmp_path
    )  # in-process, as the template tests its debug modes
    assert check(tmp_path, json.loads((tmp_path / "metrics.json").read_text()))


def test_resume_from_a_run_folder_takes_its_last_checkpoint(trained_run, synthetic_root, tmp_path, caplog):
    with caplog.at_level("INFO"):
        metrics = train(
            compose_train(
                [*small_run_overrides(synthetic_root, tmp_path, steps=80), f"ckpt_path={trained_run}"]
            ),
            tmp_path,
        )
    assert metrics["step"] == 80 and [h["step"] for h in metrics["history"]] == [80]
    assert f"resuming from {trained_run / 'checkpoints' / 'last.ckpt'}" in caplog.text


def test_a_resumed_run_reads_its_checkpoints_data_unless_data_root_is_given(
    trained_run, synthetic_root, tmp_path, caplog
):
    small = [
        o for o in small_run_overrides(synthetic_root, tmp_path, steps=80) if not o.startswith("data.root=")
    ]
    with caplog.at_level("INFO"):
        metrics = train(compose_train([*small, f"ckpt_path={trained_run}"]), tmp_path)
    assert (
        metrics["step"] == 80
        and f"Data from {synthetic_root}, as the checkpoint's run read it" in caplog.text
    )


def test_a_run_resumed_into_its_own_folder_ends_with_last_ckpt_at_its_end(synthetic_root, tmp_path):
    """Stopped before its first validation, only the checkpoint saved on SIGTERM exists, unknown to
    ModelCheckpoint's bookkeeping; resumed into the same folder, the run must overwrite it (not step
    aside to last-v1.ckpt), so a later `ckpt_path=<run>` finds the end."""
    run = tmp_path / "run"
    stopped = stop_with(synthetic_root, run, signal.SIGTERM, step=50, times=1, val_every=100)
    assert stopped.returncode == 128 + signal.SIGTERM, stopped.stdout[-3000:]
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 60
    overrides = small_run_overrides(synthetic_root, run, steps=100) + ["trainer.val_check_interval=100"]
    record = train(compose_train([*overrides, f"ckpt_path={run}", "test=false"]), run)
    assert record["step"] == 100
    assert sorted(p.name for p in (run / "checkpoints").glob("last*.ckpt")) == ["last.ckpt"]
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 100


def test_resuming_from_a_path_that_does_not_exist_says_so(tmp_path):
    from mnist_lightning.persistence.checkpoints import CheckpointError
    from mnist_lightning.training.resume import resume_file

    with pytest.raises(CheckpointError, match="no such checkpoint file or run folder"):
        resume_file(tmp_path / "nonexistent")
