"""Fixtures shared by the suite."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import train_small_run, write_synthetic_mnist


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_mnist(tmp_path_factory.mktemp("mnist"))


@pytest.fixture(scope="session")
def trained_run(synthetic_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 60-step run folder (EMA on): checkpoints at steps 20, 40, 60 and metrics.json."""
    out = tmp_path_factory.mktemp("trained_run")
    train_small_run(synthetic_root, out)
    return out
