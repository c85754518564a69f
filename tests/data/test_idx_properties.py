"""Property-based checks of the IDX reader: any bytes give an array or a DataError, never a crash."""

import gzip

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from mnist_lightning.data.idx import IDX_DTYPES, parse_idx, read_idx
from mnist_lightning.errors import DataError
from tests.helpers import write_idx

shapes = st.lists(st.integers(0, 6), min_size=1, max_size=3).map(tuple)
dtypes = st.sampled_from([dt.newbyteorder("=") for dt in IDX_DTYPES.values()])


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64))
def test_random_bytes_never_crash(data):
    try:
        parsed = parse_idx(data)
    except DataError:
        return
    assert parsed.size * parsed.dtype.itemsize == len(data) - 4 - 4 * parsed.ndim


@settings(max_examples=100, deadline=None)
@given(dtypes.flatmap(lambda dt: arrays(dt, shapes)), st.booleans())
def test_round_trip(tmp_path_factory, array, compress):
    path = tmp_path_factory.mktemp("idx") / "a.idx"
    write_idx(path, array, compress=compress)
    loaded = read_idx(path).numpy()
    assert loaded.shape == array.shape
    assert np.array_equal(loaded, array, equal_nan=array.dtype.kind == "f")


@settings(max_examples=100, deadline=None)
@given(arrays(np.uint8, st.tuples(st.integers(1, 5), st.integers(1, 5))), st.data())
def test_any_truncation_or_extension_is_rejected(array, data):
    header_and_body = bytearray()
    header_and_body += bytes([0, 0, 0x08, 2]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    header_and_body += array.tobytes()
    cut = data.draw(st.integers(0, len(header_and_body) - 1))
    try:
        parse_idx(bytes(header_and_body[:cut]))
        raise AssertionError("a truncated file was accepted")
    except DataError:
        pass
    extra = data.draw(st.binary(min_size=1, max_size=8))
    try:
        parse_idx(bytes(header_and_body) + extra)
        raise AssertionError("trailing bytes were accepted")
    except DataError:
        pass


@settings(max_examples=50, deadline=None)
@given(st.binary(min_size=1, max_size=200))
def test_gzip_of_garbage_or_cut_gzip_is_a_data_error(tmp_path_factory, payload):
    path = tmp_path_factory.mktemp("gz") / "x.gz"
    compressed = gzip.compress(payload)
    path.write_bytes(compressed[: max(2, len(compressed) // 2)])
    try:
        read_idx(path)
    except DataError:
        return
    raise AssertionError("a cut gzip stream was accepted")
