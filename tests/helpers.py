"""Test helpers: synthetic IDX datasets written by the tests (so the real loading code runs), runs."""

from __future__ import annotations

import contextlib
import gzip
import os
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from mnist_lightning.data.idx import IDX_DTYPES
from mnist_lightning.hydra_setup import CONFIG_DIR, PROJECT_ROOT, register_resolvers
from mnist_lightning.renamed_keys import upgrade_data_settings

REAL_MNIST = PROJECT_ROOT.parent / "shared" / "datasets" / "mnist"


def write_idx(path: str | Path, array: np.ndarray, compress: bool | None = None) -> Path:
    """Write `array` as IDX (gzipped when `compress` or when the name ends in .gz)."""
    path = Path(path)
    array = np.asarray(array)
    codes = {dt.newbyteorder("="): code for code, dt in IDX_DTYPES.items()}
    code = codes.get(array.dtype.newbyteorder("="))
    if code is None:
        raise ValueError(f"IDX cannot store dtype {array.dtype}")
    header = struct.pack(f">HBB{array.ndim}I", 0, code, array.ndim, *array.shape)
    payload = header + array.astype(IDX_DTYPES[code], copy=False).tobytes()
    if compress or (compress is None and path.suffix == ".gz"):
        payload = gzip.compress(payload, mtime=0)
    path.write_bytes(payload)
    return path


def real_mnist() -> Path:
    """The real MNIST folder beside the checkout. Missing: a skip on a developer's machine, a failure in
    CI (`CI` set), where ../shared is always there and a skipped end-to-end test would prove nothing."""
    import pytest

    if not REAL_MNIST.is_dir():
        message = f"real MNIST not found at {REAL_MNIST} (../shared/datasets/mnist beside the checkout)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return REAL_MNIST


FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def synthetic_digits(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Learnable 28x28 uint8 images: class k lights a 6x6 patch at a k-dependent place, plus noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=n).astype(np.uint8)
    images = rng.integers(0, 60, size=(n, 28, 28)).astype(np.uint8)
    for i, k in enumerate(labels):
        r, c = 2 + 8 * (k // 4), 2 + 6 * (k % 4)
        images[i, r : r + 6, c : c + 6] = 255
    return images, labels


def write_synthetic_mnist(
    folder: Path, n_train: int = 1200, n_test: int = 300, gz: bool = True, layout: str = "flat"
) -> Path:
    """The four MNIST IDX files (gzipped or raw) in `folder` or `folder/MNIST/raw`; returns `folder`."""
    target = folder / "MNIST" / "raw" if layout == "raw" else folder
    target.mkdir(parents=True, exist_ok=True)
    for split, n, seed in (("train", n_train, 0), ("test", n_test, 1)):
        images, labels = synthetic_digits(n, seed)
        suffix = ".gz" if gz else ""
        write_idx(target / (FILES[split][0] + suffix), images)
        write_idx(target / (FILES[split][1] + suffix), labels)
    return folder


def small_run_overrides(data_root: Path, output_dir: Path | None = None, steps: int = 60) -> list[str]:
    """A seconds-long run on the synthetic data: 1,000 train / 200 val / 300 test images.

    With `output_dir` the run writes there; without, Hydra picks the folder (as in a sweep).
    """
    overrides = [
        f"data.root={data_root}",
        "data.download=false",
        "data.val_size=200",
        "data.batch_size=50",
        "data.eval_batch_size=100",
        f"trainer.max_steps={steps}",
        "trainer.val_check_interval=20",
        "trainer.log_every_n_steps=10",
        "trainer.accelerator=cpu",
        "lr_schedule.decay_steps=20",
        "lr=0.1",
    ]
    if output_dir is not None:
        overrides += [f"paths.output_dir={output_dir}", f"hydra.run.dir={output_dir}"]
    return overrides


def sweep_overrides(data_root: Path, steps: int = 40, free: tuple[str, ...] = ()) -> list[str]:
    """A small run's overrides for a multirun (validation every 20 steps), leaving the `free` keys to the sweep."""
    small = small_run_overrides(data_root, steps=steps) + ["trainer.val_check_interval=20"]
    return [o for o in small if o.split("=", 1)[0] not in free]


def mlflow_overrides(store: Path) -> list[str]:
    """logger=mlflow (with CSV) into a SQLite store in `store`, logging every 10 steps."""
    return [
        "logger=[csv,mlflow]",
        f"logger.mlflow.tracking_uri=sqlite:///{store}/mlflow.db",
        f"logger.mlflow.artifact_location={store}/artifacts",
        "trainer.log_every_n_steps=10",
    ]


def ctrl_c_by_default() -> None:
    """A Popen `preexec_fn`: SIGINT's default action in the child, so Python there turns Ctrl-C into
    KeyboardInterrupt even when the suite itself was started in the background (which ignores SIGINT)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_for(path: Path, process: subprocess.Popen | None = None, timeout: float = 120.0) -> Path:
    """Wait until `path` exists; fail clearly if it never appears or `process` ends first."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process is not None and process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            raise AssertionError(
                f"{path} never appeared: the process exited with {process.returncode}\n{output[-3000:]}"
            )
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not appear within {timeout:.0f} s")
        time.sleep(0.05)
    return path


def compose_config(program: str, overrides: list[str]) -> DictConfig:
    """A program's config (conf/<program>.yaml) composed by Hydra, as its entry point would."""
    register_resolvers()  # what setup_hydra() does for a program: ${tracking_name:...} and the like
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose(program, overrides=overrides)


def compose_train(overrides: list[str]) -> DictConfig:
    return compose_config("train", overrides)


def run_script(
    script: str, *args: str, timeout: int = 300, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    """Run `python src/<script> args...` as a user would; output captured for assertions."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "HYDRA_FULL_ERROR": "0"}
    return subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "src" / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=cwd or PROJECT_ROOT,
        env=env,
    )


def start_script(script: str, *args: str, stderr: int = subprocess.STDOUT) -> subprocess.Popen:
    """Start `python src/<script> args...` as a user would, text output piped, with Ctrl-C (SIGINT)
    acting as at a terminal even when the suite runs in the background (`ctrl_c_by_default`), in a
    process group of its own: `ctrl_c(process)` reaches it and its children, as a terminal's does."""
    return subprocess.Popen(
        [sys.executable, str(PROJECT_ROOT / "src" / script), *args],
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        process_group=0,
        preexec_fn=ctrl_c_by_default,  # noqa: PLW1509 - only restores SIGINT's default; no threads run here
    )


def ctrl_c(process: subprocess.Popen) -> None:
    """Ctrl-C as a terminal sends it: SIGINT to every process of the program's group."""
    import signal

    os.killpg(process.pid, signal.SIGINT)


def train_small_run(data_root: Path, output_dir: Path, *extra: str, steps: int = 60) -> dict:
    """A real (seconds-long) training run in-process; returns its metrics record."""
    from mnist_lightning.training.run import train

    return train(
        compose_train(small_run_overrides(data_root, output_dir, steps=steps) + list(extra)), output_dir
    )


def split_of_run(run: Path, split: str) -> tuple:
    """(images, labels) of a run's `val` or `test` split, with the data settings its checkpoint stored."""
    import torch

    from mnist_lightning.data import MNISTDataModule

    checkpoint = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")
    datamodule = MNISTDataModule(
        **{**upgrade_data_settings(checkpoint["datamodule_hyper_parameters"]), "download": False}
    )
    datamodule.setup()
    return datamodule.val_set if split == "val" else datamodule.test_set


def mnist_test_digits() -> tuple:
    """The real MNIST test split: (uint8 images N×28×28, labels N)."""
    from mnist_lightning.data import load_dataset

    return load_dataset("mnist", REAL_MNIST, download_if_missing=False)["test"]


def png_bytes(array) -> bytes:
    """A uint8 array encoded as a PNG file."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def huge_png(width: int, height: int) -> bytes:
    """A valid PNG header declaring width x height pixels, with a tiny body: what an attacker sends
    (the hostile set's own generator, benchmarks/hostile_requests.py)."""
    return load_benchmark("hostile_requests.py").png_declaring(width, height)


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def server(command: list[str], probe_url: str, log: Path) -> Iterator[subprocess.Popen]:
    """A server process as a user starts it, until `probe_url` answers; stopped after. Its console goes to `log`."""
    import urllib.request

    with open(log, "w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 90
    try:
        while True:
            try:
                urllib.request.urlopen(probe_url, timeout=2).read()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"the server did not start:\n{log.read_text()[-3000:]}") from None
                time.sleep(0.2)
        yield process
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextlib.contextmanager
def serving(ckpt: Path, log: Path, *overrides: str) -> Iterator[tuple[subprocess.Popen, str]]:
    """`python src/serve.py ckpt=... port=<free>` as a user starts it, until its health answers;
    (the process, its URL) inside, stopped after. Its console goes to `log`."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        sys.executable,
        str(PROJECT_ROOT / "src" / "serve.py"),
        f"ckpt={ckpt}",
        f"port={port}",
        f"hydra.run.dir={log.parent}",
        *overrides,
    ]
    with server(command, f"{url}/api/health", log) as process:
        yield process, url


def load_benchmark(script: str) -> Any:
    """A script of benchmarks/ as a module (they are scripts, not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        script.removesuffix(".py"), PROJECT_ROOT / "benchmarks" / script
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module
