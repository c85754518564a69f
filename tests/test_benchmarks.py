"""The benchmark scripts still run (tiny settings; their figures are not asserted: they are timings).

Modes that time one process run in the test's own process (`main()` with the script's arguments);
modes that start processes of their own (two at once, beside a watcher, the server) run as scripts.
"""

import re
import subprocess
import sys

import pytest

from mnist_lightning.hydra_setup import PROJECT_ROOT
from tests.helpers import load_benchmark, real_mnist, train_small_run


def bench(script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "benchmarks" / script), *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def run_main(script: str, *args: str, monkeypatch, capsys) -> tuple[str, str]:
    """The benchmark's `main()` in this process, as `python benchmarks/<script> args...` would run it."""
    module = load_benchmark(script)
    monkeypatch.setattr(sys, "argv", [script, *args])
    module.main()
    captured = capsys.readouterr()
    return captured.out, captured.err


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_train_throughput_runs(precision, monkeypatch, capsys):
    out, _ = run_main(
        "train_throughput.py",
        "--steps",
        "30",
        "--repeats",
        "1",
        "--precision",
        precision,
        monkeypatch=monkeypatch,
        capsys=capsys,
    )
    assert f"precision={precision}" in out and "ratio Lightning/plain:" in out
    assert "step floor:" in out and "x the floor" in out
    parts = re.search(
        r"gradients ([0-9.]+) ms \+ update \([^)]*\) ([0-9.]+) ms; whole step ([0-9.]+) ms", out
    )
    assert parts and all(float(ms) > 0 for ms in parts.groups()), out
    if precision == "fp32":
        stacked = re.search(
            r"3 models on one batch: one at a time ([0-9.]+) ms, stacked into one ([0-9.]+) ms", out
        )
        assert stacked and all(float(ms) > 0 for ms in stacked.groups()), out


@pytest.mark.parametrize("ema", ["on", "off"])
def test_eval_throughput_runs_with_and_without_moving_average(
    ema, trained_run, synthetic_root, tmp_path, monkeypatch, capsys
):
    run = trained_run
    if ema == "off":
        run = tmp_path
        train_small_run(synthetic_root, run, "ema=off", steps=20)
    out, _ = run_main(
        "eval_throughput.py",
        "--run",
        str(run),
        "--data-root",
        str(synthetic_root),
        "--repeats",
        "1",
        monkeypatch=monkeypatch,
        capsys=capsys,
    )
    assert f"{'ema' if ema == 'on' else 'raw'} weights" in out
    assert out.count("agrees with PyTorch on 300/300") == 3


def test_serve_load_runs(trained_run, synthetic_root):
    result = bench(
        "serve_load.py",
        "--ckpt",
        str(trained_run),
        "--data-root",
        str(synthetic_root),
        "--requests",
        "40",
        "--clients",
        "4",
        "--max-seconds",
        "60",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "40 requests from 4 clients" in result.stdout and "errors 0" in result.stdout


def test_subcommands_name_the_modes_and_the_previous_release_s_flags_still_do_with_a_notice(capsys):
    benchmark = load_benchmark("train_throughput.py")
    assert benchmark.parse_args(["--steps", "30"]).mode == "in-process"  # the default mode
    assert benchmark.parse_args(["two-at-once", "--data-root", "x"]).mode == "two-at-once"
    assert benchmark.parse_args(["two-at-once", "--data-root", "x"]).policy == "both"
    assert benchmark.parse_args(["two-at-once", "--data-root", "x", "--policy", "fixed"]).policy == "fixed"
    old = benchmark.parse_args(["--beside-watcher", "--data-root", "x", "--steps", "20"])
    assert (old.mode, old.steps) == ("beside-watcher", 20)
    assert (
        "note: --beside-watcher is deprecated; use the subcommand: train_throughput.py beside-watcher"
        in capsys.readouterr().err
    )
    with pytest.raises(SystemExit) as exit_info:
        benchmark.parse_args(["two-at-once"])
    assert exit_info.value.code == 2 and "two-at-once needs --data-root" in capsys.readouterr().err


def test_tf1_comparison_says_why_it_is_skipped_without_tensorflow(tmp_path, monkeypatch, capsys):
    out, err = run_main(
        "train_throughput.py",
        "--vs-tf1",
        "--data-root",
        str(tmp_path),
        "--tf1-python",
        str(tmp_path / "none"),
        monkeypatch=monkeypatch,
        capsys=capsys,
    )
    assert "TF1 comparison skipped" in out
    assert "note: --vs-tf1 is deprecated; use the subcommand: train_throughput.py vs-tf1" in err


@pytest.mark.e2e
def test_two_at_once_runs():
    # One policy (3 processes, not 6); the other differs by one override (its parsing: the test above).
    result = bench(
        "train_throughput.py",
        "two-at-once",
        "--steps",
        "20",
        "--repeats",
        "1",
        "--policy",
        "default",
        "--data-root",
        str(real_mnist()),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "default (thread policy)" in result.stdout and "(no policy)" not in result.stdout
    assert result.stdout.count("each/alone") == 1


@pytest.mark.e2e
def test_beside_watcher_runs():
    result = bench(
        "train_throughput.py",
        "beside-watcher",
        "--steps",
        "20",
        "--repeats",
        "1",
        "--data-root",
        str(real_mnist()),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "beside a watching evaluator" in result.stdout and "slowdown:" in result.stdout
