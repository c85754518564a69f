"""Uploads are decoded in worker processes, a few at a time, each decode with a deadline.

The header count (inference/decode_budget.py) refuses what it can foresee before decoding; what it
cannot (a decoder's own slowness on a crafted file) is bounded here: a decode that outlives
`timeout_s` is ended by killing its worker, which is replaced. A worker's memory is capped
(decode_worker.py), and the server process never holds a decoded image.
"""

from __future__ import annotations

import asyncio
import os
import select
import struct
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path

import numpy as np
from fastapi import HTTPException
from fastapi.concurrency import run_in_threadpool

import mnist_lightning
from mnist_lightning.inference.preprocess import NoDigit

START_TIMEOUT_S = 60.0  # a fresh worker imports numpy and Pillow: seconds on a slow, busy machine
_PACKAGE_ROOT = str(Path(mnist_lightning.__file__).resolve().parents[1])


class DecodeTimeout(Exception):
    pass


class DecoderStopped(Exception):
    """The worker ended in the middle of a decode (killed by the system, or its decoder crashed)."""


class DecodeWorker:
    """One worker process and the pipe to it; started when first needed, restarted after a kill."""

    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [_PACKAGE_ROOT, os.environ.get("PYTHONPATH")])),
            "OMP_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1",
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "mnist_lightning.serving.decode_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        self._killed_with_worker = weakref.finalize(self, process.kill)  # an app dropped without stop()
        self.process = process
        kind, _ = self._answer(time.monotonic() + START_TIMEOUT_S)
        if kind != b"S":
            raise RuntimeError("a decode worker did not start")

    def stop(self) -> None:
        if self.process is not None:
            self._killed_with_worker.detach()  # one finalizer per live process, not one per restart
            self.process.kill()
            self.process.wait()
            self.process = None

    def decode(self, data: bytes, timeout_s: float) -> tuple[bytes, bytes]:
        """(kind, payload) of the worker's answer; DecodeTimeout when none comes within `timeout_s`,
        DecoderStopped when the worker ends without one."""
        with self._lock:
            if self.process is None or self.process.poll() is not None:
                self.start()
            deadline = time.monotonic() + timeout_s
            try:
                self.process.stdin.write(struct.pack(">I", len(data)) + data)
                self.process.stdin.flush()
                return self._answer(deadline)
            except DecodeTimeout:
                self.stop()  # whatever it was doing ends now; the next decode starts a fresh one
                raise
            except (BrokenPipeError, EOFError):
                self.stop()
                raise DecoderStopped from None

    def _answer(self, deadline: float) -> tuple[bytes, bytes]:
        head = self._read(5, deadline)
        return head[:1], self._read(struct.unpack(">I", head[1:])[0], deadline)

    def _read(self, size: int, deadline: float) -> bytes:
        out, data = self.process.stdout, b""
        while len(data) < size:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([out], [], [], left)[0]:
                raise DecodeTimeout
            chunk = os.read(out.fileno(), size - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return data


class DecodePool:
    """At most `slots` images decode at once, each in its own worker and within `timeout_s`; a request
    that waits longer than `wait_s` for a slot gets 503 with Retry-After."""

    def __init__(self, slots: int, timeout_s: float, wait_s: float = 5.0) -> None:
        self.workers = [DecodeWorker() for _ in range(slots)]
        self.timeout_s, self.wait_s = timeout_s, wait_s
        self._free: asyncio.Queue[DecodeWorker] | None = None

    def start(self) -> None:
        """Start every worker now (the server does before it says it is serving)."""
        for worker in self.workers:
            worker.start()

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()

    async def input_row(self, data: bytes) -> np.ndarray:
        """The model's input row for an encoded image; NoDigit, or HTTPException 400/503."""
        if self._free is None:  # created on the server's event loop, at the first request
            self._free = asyncio.Queue()
            for worker in self.workers:
                self._free.put_nowait(worker)
        try:
            worker = await asyncio.wait_for(self._free.get(), self.wait_s)
        except TimeoutError as exc:
            raise HTTPException(
                503, "busy: too many images are being read; retry in a second", headers={"Retry-After": "1"}
            ) from exc
        try:
            kind, payload = await run_in_threadpool(worker.decode, data, self.timeout_s)
        except DecodeTimeout as exc:
            raise HTTPException(
                400,
                f"the image took longer than {self.timeout_s:g} s to decode (the limit): "
                "save it again as a PNG or a baseline JPEG",
            ) from exc
        except DecoderStopped as exc:
            raise HTTPException(
                400,
                "the image could not be decoded (its decoder stopped on it): send a whole PNG or JPEG file",
            ) from exc
        finally:
            self._free.put_nowait(worker)
        if kind == b"R":
            return np.frombuffer(payload, dtype=np.float32).copy()
        if kind == b"N":
            raise NoDigit(payload.decode())
        raise HTTPException(400, payload.decode())
