"""Fixtures shared by the suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from filelock import FileLock

from mnist_lightning.numerics import request_thread_count_invariant_gemms

request_thread_count_invariant_gemms()  # as the programs do, before any test computes with torch
# The suite runs two workers (pytest -n 2, pyproject.toml) on machines of 2 cores: OpenMP threads that
# spin while waiting would stall each other (~0.2x). Waiting passively changes timings, never results.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from tests.helpers import (
    REAL_MNIST,
    compose_config,
    real_mnist,
    run_script,
    train_small_run,
    write_synthetic_mnist,
)


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_mnist(tmp_path_factory.mktemp("mnist"))


@pytest.fixture(scope="session")
def trained_run(synthetic_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 60-step run folder (EMA on): checkpoints at steps 20, 40, 60 and metrics.json."""
    out = tmp_path_factory.mktemp("trained_run")
    train_small_run(synthetic_root, out)
    return out


@pytest.fixture(scope="session")
def real_run(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """The tutorial's command on the real MNIST, shortened to 2,000 steps, then exported (all formats).

    Shared by the end-to-end, serving and browser tests, and trained once for all pytest-xdist
    workers (the first takes a file lock and trains; the others wait and reuse the run);
    skipped when ../shared has no MNIST (failed in CI: `real_mnist()`).
    """
    real_mnist()
    shared = (
        tmp_path_factory.getbasetemp() if worker_id == "master" else tmp_path_factory.getbasetemp().parent
    )
    run, done = shared / "real_run", shared / "real_run.done"
    with FileLock(str(shared / "real_run.lock")):
        if not done.exists():
            trained = run_script(
                "train.py",
                f"data.root={REAL_MNIST}",
                "trainer.max_steps=2000",
                f"hydra.run.dir={run}",
                timeout=600,
            )
            assert trained.returncode == 0, trained.stderr[-3000:]
            (run / "train_output.txt").write_text(trained.stdout + trained.stderr)
            from mnist_lightning.persistence.export_run import export

            export(compose_config("export", [f"ckpt={run}"]))  # all formats, in-process (export.py: test_cli)
            done.touch()
    return run


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The long end-to-end tests first, so that two workers do not end with one of them still busy."""
    items.sort(key=lambda item: item.get_closest_marker("e2e") is None)
