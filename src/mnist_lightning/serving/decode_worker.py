"""A decode worker: `python -m mnist_lightning.serving.decode_worker`, started by serving/decoders.py.

Reads images from stdin and answers each with the model's input row, a no-digit line or an error
line on stdout, until stdin closes (so it never outlives the server); Ctrl-C is the server's to act
on. Its address space is capped at its idle size plus the decode budget and a margin, so a decode
the header count did not foresee fails here with MemoryError instead of growing the server.

Frames: to the worker, a 4-byte big-endian length and the image; from it, one kind byte
(S ready, R row of 784 float32, N no digit, E error), a 4-byte length and the payload.
"""

from __future__ import annotations

import os
import resource
import signal
import struct
import sys
from typing import BinaryIO

MARGIN_BYTES = 64_000_000  # for the interpreter and libraries beside the decode's own memory


def _vm_size() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmSize in /proc/self/status")


def write_frame(out: BinaryIO, kind: bytes, payload: bytes) -> None:
    out.write(kind + struct.pack(">I", len(payload)) + payload)
    out.flush()


def read_exactly(stream: BinaryIO, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = stream.read(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _warm_up(mnist_input) -> None:
    """Decode a PNG and a JPEG once, so the idle size the ceiling counts from holds what every decode
    loads (codecs, numpy's kernels), and a broken install fails at start-up, not at the first upload."""
    import io

    from PIL import Image, ImageDraw

    image = Image.new("L", (280, 280), 255)
    ImageDraw.Draw(image).line([(140, 40), (140, 240)], fill=0, width=20)
    for kind in ("PNG", "JPEG"):
        buffer = io.BytesIO()
        image.save(buffer, kind)
        mnist_input(buffer.getvalue())


def main() -> None:
    # Ctrl-C at a terminal reaches the whole process group: the server stops its workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    protocol = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # a library that prints cannot corrupt the frames
    import numpy as np

    from mnist_lightning.errors import DataError
    from mnist_lightning.inference.decode_budget import DECODE_BYTES
    from mnist_lightning.inference.preprocess import NoDigit, mnist_input

    _warm_up(mnist_input)
    ceiling = _vm_size() + DECODE_BYTES + MARGIN_BYTES
    resource.setrlimit(resource.RLIMIT_AS, (ceiling, resource.getrlimit(resource.RLIMIT_AS)[1]))
    write_frame(protocol, b"S", b"")
    requests = sys.stdin.buffer
    while (head := read_exactly(requests, 4)) is not None:
        data = read_exactly(requests, struct.unpack(">I", head)[0])
        if data is None:
            return
        try:
            row = mnist_input(data, "the uploaded image")
            write_frame(protocol, b"R", row.astype(np.float32).tobytes())
        except NoDigit as exc:
            write_frame(protocol, b"N", str(exc).encode())
        except DataError as exc:
            write_frame(protocol, b"E", str(exc).encode())
        except MemoryError:
            write_frame(protocol, b"E", b"the uploaded image: too large to decode within the memory budget")
            return  # a fresh worker replaces this one


if __name__ == "__main__":
    main()
