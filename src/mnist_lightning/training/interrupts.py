"""Ctrl-C noted when pressed and acted on where the caller says; pressed again, at once."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

log = logging.getLogger(__name__)


class StoppedAtOnce(KeyboardInterrupt):
    """A second Ctrl-C, raised wherever the program was: what it had half done may not add up."""


class DeferredCtrlC:
    """Takes over Ctrl-C (SIGINT): the first press sets `pressed`, `stop_if_pressed()` raises
    KeyboardInterrupt at a point the caller chose; a second press raises `StoppedAtOnce` where it lands.

    Only where Python's own Ctrl-C handler is installed, on the main thread: a handler set by the
    caller, or SIGINT ignored (a job started in the background), stays as it is.
    """

    def __init__(self, doing: str) -> None:
        self.doing = doing  # what the first press lets finish, for the line it prints
        self.pressed = False
        self._previous: signal.Handlers | None = None

    def install(self) -> bool:
        if (
            threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
        ):
            return False
        self.pressed = False
        self._previous = signal.signal(signal.SIGINT, self._note)
        return True

    def uninstall(self) -> None:
        """Give Ctrl-C back, unless someone else has taken it since (Lightning ignores it while it shuts down)."""
        if self._previous is not None and signal.getsignal(signal.SIGINT) == self._note:
            signal.signal(signal.SIGINT, self._previous)
        self._previous = None

    def stop_if_pressed(self) -> None:
        if self.pressed:
            raise KeyboardInterrupt

    def _note(self, signum: int, frame: FrameType | None) -> None:
        if self.pressed:
            raise StoppedAtOnce
        self.pressed = True
        log.warning(
            "Ctrl-C: stopping after %s (press Ctrl-C again to stop at once, without a checkpoint)", self.doing
        )
