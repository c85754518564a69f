"""Reader for the IDX format (http://yann.lecun.com/exdb/mnist/), plain or gzipped.

Every malformed file is rejected with a `DataError` naming the file: a silent partial
dataset would train fine and report wrong accuracies.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np
import torch

from mnist_lightning.errors import DataError

GZIP_MAGIC = b"\x1f\x8b"
# IDX type byte -> big-endian numpy dtype.
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read IDX file {path}: {exc.strerror or exc}") from exc
    if raw[:2] != GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path} is a corrupt or truncated gzip file ({exc})") from exc


def parse_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Parse IDX bytes into an array, checking magic, type, dimensions and size."""
    if len(data) < 4:
        raise DataError(f"{name}: too short for an IDX header ({len(data)} bytes)")
    zero, type_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or type_code not in IDX_DTYPES or ndim == 0:
        raise DataError(
            f"{name}: not an IDX file (magic number 0x{data[:4].hex()}; "
            "expected 0x0000 then a type byte and the number of dimensions)"
        )
    header_end = 4 + 4 * ndim
    if len(data) < header_end:
        raise DataError(f"{name}: header truncated (needs {header_end} bytes, file has {len(data)})")
    shape = struct.unpack(f">{ndim}I", data[4:header_end])
    dtype = IDX_DTYPES[type_code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    actual = len(data) - header_end
    if actual != expected:
        kind = "truncated" if actual < expected else "has trailing bytes"
        raise DataError(
            f"{name}: {kind}: header says shape {tuple(shape)} ({expected} data bytes), found {actual}"
        )
    return np.frombuffer(data, dtype=dtype, offset=header_end).reshape(shape)


def read_idx(path: str | Path) -> torch.Tensor:
    """Read an IDX file (gzip detected by content, not by name) into a native-endian tensor."""
    path = Path(path)
    array = parse_idx(_read_bytes(path), name=str(path))
    return torch.from_numpy(array.astype(array.dtype.newbyteorder("="), copy=True))
