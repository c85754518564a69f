"""Ctrl-C between stacks of steps, never inside one."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def ctrl_c_after_block() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) until the block ends, then raise KeyboardInterrupt.

    A `training_step` call runs a stack of steps (training/module.py); interrupted halfway, the
    run would save a checkpoint whose step count stops inside a stack its data loader counts as
    done. Held to the end of the stack, the saved run resumes exactly where it stopped. Where
    Python's own Ctrl-C handler is not the one installed (another thread, SIGINT ignored or
    handled by the caller), the block runs as it is.
    """
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt
