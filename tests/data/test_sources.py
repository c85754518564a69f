import urllib.error

import numpy as np
import pytest

from mnist_lightning.data import sources
from mnist_lightning.data.sources import load_dataset
from mnist_lightning.errors import DataError
from tests.helpers import FILES, write_idx, write_synthetic_mnist


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("layout", ["flat", "raw"])
def test_loads_gz_or_raw_flat_or_torchvision_layout(tmp_path, gz, layout):
    root = write_synthetic_mnist(tmp_path, n_train=50, n_test=20, gz=gz, layout=layout)
    data = load_dataset("mnist", root, download_if_missing=False)
    images, labels = data["train"]
    assert images.shape == (50, 28, 28) and labels.shape == (50,)
    assert data["test"][0].shape == (20, 28, 28)
    assert labels.dtype.is_floating_point is False and int(labels.max()) <= 9


def test_nothing_found_without_download_says_what_where_and_fix(tmp_path):
    with pytest.raises(DataError) as info:
        load_dataset("mnist", tmp_path, download_if_missing=False)
    message = str(info.value)
    assert "train-images-idx3-ubyte" in message and "t10k-labels-idx1-ubyte" in message
    assert str(tmp_path) in message and str(tmp_path / "MNIST" / "raw") in message
    assert "Fix: pass data.root=" in message


def test_failed_download_is_one_clear_error(tmp_path, monkeypatch):
    def offline(spec, root):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(sources, "download", offline)
    with pytest.raises(DataError, match=r"the download failed \(URLError"):
        load_dataset("mnist", tmp_path)


def test_download_is_used_when_files_are_missing(tmp_path, monkeypatch):
    def fake_torchvision_download(spec, root):
        write_synthetic_mnist(root, n_train=30, n_test=10, layout="raw")

    monkeypatch.setattr(sources, "download", fake_torchvision_download)
    assert load_dataset("mnist", tmp_path)["train"][0].shape == (30, 28, 28)


def test_label_image_count_mismatch_and_range(tmp_path):
    root = write_synthetic_mnist(tmp_path, n_train=20, n_test=10)
    write_idx(root / (FILES["train"][1] + ".gz"), np.zeros(19, dtype=np.uint8))
    with pytest.raises(DataError, match="20 images but .* has 19 labels"):
        load_dataset("mnist", root, download_if_missing=False)
    write_idx(root / (FILES["train"][1] + ".gz"), np.full(20, 10, dtype=np.uint8))
    with pytest.raises(DataError, match="label 10 is outside 0-9"):
        load_dataset("mnist", root, download_if_missing=False)


def test_wrong_image_shape(tmp_path):
    root = write_synthetic_mnist(tmp_path, n_train=20, n_test=10)
    write_idx(root / (FILES["test"][0] + ".gz"), np.zeros((10, 32, 32), dtype=np.uint8))
    with pytest.raises(DataError, match="expected uint8 images of shape"):
        load_dataset("mnist", root, download_if_missing=False)


def test_unknown_dataset():
    with pytest.raises(DataError, match="unknown dataset 'cifar'"):
        load_dataset("cifar", None)


def test_fashion_mnist_is_found_in_the_system_folder(monkeypatch, tmp_path):
    system = write_synthetic_mnist(tmp_path / "fashion", n_train=20, n_test=10)
    spec = sources.DatasetSpec("fashion_mnist", "FashionMNIST", system_dirs=(str(system),))
    monkeypatch.setitem(sources.DATASETS, "fashion_mnist", spec)
    assert (
        load_dataset("fashion_mnist", tmp_path / "empty", download_if_missing=False)["test"][0].shape[0] == 10
    )


@pytest.mark.parametrize(("holds", "asked"), [("mnist", "fashion_mnist"), ("fashion_mnist", "mnist")])
def test_a_folder_holding_the_other_dataset_is_refused_not_trained_on(tmp_path, holds, asked):
    write_synthetic_mnist(tmp_path, n_train=100, n_test=20, gz=False)
    labels = np.random.default_rng(0).integers(0, 10, size=100).astype(np.uint8)
    labels[:16] = sources.DATASETS[holds].first_train_labels
    write_idx(tmp_path / FILES["train"][1], labels, compress=False)
    with pytest.raises(DataError, match=rf"holds {holds}, but data={asked} was asked for"):
        load_dataset(asked, tmp_path, download_if_missing=False)
    assert load_dataset(holds, tmp_path, download_if_missing=False)["train"][1][:16].tolist() == list(
        labels[:16]
    )
