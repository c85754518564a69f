"""Fixtures shared by the suite."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import write_synthetic_mnist


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_mnist(tmp_path_factory.mktemp("mnist"))
