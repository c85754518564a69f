import gzip

import numpy as np
import pytest
import torch

from mnist_lightning.data.idx import parse_idx, read_idx
from mnist_lightning.errors import DataError
from tests.helpers import write_idx


@pytest.mark.parametrize("name", ["x-idx3-ubyte", "x-idx3-ubyte.gz"])
def test_round_trip_plain_and_gzip(tmp_path, name):
    images = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    path = write_idx(tmp_path / name, images)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == name.endswith(".gz")
    loaded = read_idx(path)
    assert loaded.dtype == torch.uint8 and loaded.shape == (2, 28, 28)
    assert np.array_equal(loaded.numpy(), images)


def test_gzip_is_detected_by_content_not_name(tmp_path):
    labels = np.array([3, 1, 4], dtype=np.uint8)
    path = write_idx(tmp_path / "labels-without-suffix", labels, compress=True)
    assert read_idx(path).tolist() == [3, 1, 4]


def test_big_endian_int32_is_read_natively(tmp_path):
    values = np.array([1, -2, 70000], dtype=np.int32)
    assert read_idx(write_idx(tmp_path / "ints", values)).tolist() == [1, -2, 70000]


def _header(ndim_dims, type_code=0x08):
    return bytes([0, 0, type_code, len(ndim_dims)]) + b"".join(d.to_bytes(4, "big") for d in ndim_dims)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"\x00\x00", "too short"),
        (b"\x08\x03\x00\x00" + bytes(8), "not an IDX file"),
        (bytes([0, 0, 0x42, 1, 0, 0, 0, 1, 7]), "not an IDX file"),
        (_header([3])[:6], "header truncated"),
        (_header([3]) + bytes(2), "truncated"),
        (_header([3]) + bytes(4), "trailing bytes"),
        (_header([2, 2, 2]) + bytes(7), "truncated"),
    ],
)
def test_malformed_bytes_are_rejected_with_the_reason(data, message):
    with pytest.raises(DataError, match=message):
        parse_idx(data, name="some-file")


def test_error_names_the_file(tmp_path):
    path = tmp_path / "train-labels-idx1-ubyte"
    path.write_bytes(_header([10]) + bytes(3))
    with pytest.raises(DataError, match=str(path)):
        read_idx(path)


def test_corrupt_and_truncated_gzip(tmp_path):
    good = gzip.compress(_header([100]) + bytes(100))
    path = tmp_path / "cut.gz"
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(DataError, match="corrupt or truncated gzip"):
        read_idx(path)
    path.write_bytes(b"\x1f\x8b" + b"garbage" * 10)
    with pytest.raises(DataError, match="corrupt or truncated gzip"):
        read_idx(path)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="cannot read IDX file"):
        read_idx(tmp_path / "nope")
